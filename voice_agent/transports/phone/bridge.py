"""One phone call: carrier messages in, a Session in the middle, paced carrier audio out.

Every carrier is an Adapter (sans-I/O parse/build); this file does the rest
for all of them. Caller audio is resampled to 16 kHz by one streaming
resampler per call. Agent audio is resampled per turn (flushed at each
clause mark and turn change), cut into whole 20 ms frames and paced so that
no more than `max_carrier_lead_s` sits queued at the carrier: a barge-in then
has little to take back. Each clause mark goes to the carrier under a unique
name; the carrier returns it once the audio before it has played and its
`audio_s` becomes the session's heard position. Marks the carrier returns
because a `clear` discarded their audio are not counted.

Cancellation: when the stream ends (stop, socket loss, idle timeout, bad
credentials, handler cancelled) `session.close()` runs in a `finally`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.exceptions import ConnectionClosed

from ...audio.pcm import SAMPLE_RATE
from ...audio.resample import StreamResampler
from ...session import Session
from .config import PhoneConfig
from .events import Adapter, BadMessage, Dtmf, Ignored, MarkPlayed, Media, Start, Stop, UnsupportedCall

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from ...models import Models
    from ..gateway import GatewayConfig

log = logging.getLogger(__name__)

Observer = Callable[[str, dict[str, Any]], None]  # (what, data): session events, sent/heard/start/end


IN_QUALITY = "QQ"  # caller -> ASR: latency first (HQ holds back 16-100 ms of 20 ms chunks)
OUT_QUALITY = "LQ"  # agent -> caller: a real anti-alias filter for 22.05 -> 8 kHz, ~25 ms held back


@dataclass
class _Frame:
    turn: int
    pcm: np.ndarray


@dataclass
class _Mark:
    turn: int
    name: str  # the carrier's (unique) name
    audio_s: float


class CarrierSink:
    """Session output -> carrier: per-turn resampling, whole frames, pacing, marks and clear."""

    def __init__(
        self,
        adapter: Adapter,
        send: Callable[[str | bytes], Any],
        native_rate: int,
        lead_s: float,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self._send_raw = send
        self.native_rate = native_rate
        self.lead_s = lead_s
        self.observer = observer
        self.clock = clock
        self.frame = adapter.rate // 50
        self.queue: deque[_Frame | _Mark] = deque()
        self.outstanding: dict[str, _Mark] = {}  # marks sent, not yet returned
        self.discarded: set[str] = set()  # marks whose audio a clear dropped
        self.playout_end = 0.0  # when the carrier will have played all we sent
        self.session: Session | None = None
        self._turn: int | None = None  # turn of the audio in the resampler
        self._resampler: StreamResampler | None = None
        self._rest = np.zeros(0, dtype=np.int16)  # carrier-rate samples short of a frame
        self._seq = 0
        self._epoch = 0  # bumped by each clear: a frame popped before it is not sent after it
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    # ---- from the session --------------------------------------------------

    async def send_audio(self, turn: int, pcm: np.ndarray) -> None:
        """Queue a piece of `turn`'s audio (at the session's output rate)."""
        if turn != self._turn:
            self._flush_turn()
            self._turn = turn
            self._resampler = StreamResampler(self.native_rate, self.adapter.rate, OUT_QUALITY)
        assert self._resampler is not None
        self._frames(turn, self._resampler.process(pcm))

    async def send_event(self, event: dict[str, Any]) -> None:
        """Act on clear and mark; everything else is only observed."""
        kind, turn = event.get("type"), event.get("turn")
        if kind == "clear" and isinstance(turn, int):
            await self.clear(turn)
        elif kind == "mark" and isinstance(turn, int):
            if turn == self._turn:
                self._flush_turn()
            self._seq += 1
            name = f"{event.get('name', turn)}#{self._seq}"
            self.queue.append(_Mark(turn, name, float(event.get("audio_s", 0.0))))
            self._wake.set()
        elif kind in ("interrupted", "error"):
            log.info("[%s %s] %s", self.adapter.name, self.adapter.stream_id, event)
        self._observe("session", event)

    # ---- carrier side ------------------------------------------------------

    async def clear(self, turn: int | None = None) -> None:
        """Drop every queued frame (and the resampler's) and tell the carrier to drop its queue."""
        self._epoch += 1
        kept = [m for m in self.queue if isinstance(m, _Mark) and turn is not None and m.turn != turn]
        self.queue = deque(kept)
        if turn is None or turn == self._turn:
            self._turn, self._resampler, self._rest = None, None, np.zeros(0, dtype=np.int16)
        self.discarded.update(self.outstanding)
        self.outstanding.clear()
        self.playout_end = self.clock()
        await self._send(self.adapter.clear(), "clear", turn)

    def mark_returned(self, name: str) -> None:
        """The carrier returned a mark: report the heard position unless a clear discarded it."""
        if name in self.discarded:
            self.discarded.discard(name)
            return
        mark = self.outstanding.pop(name, None)
        if mark is None:
            log.debug("[%s %s] unknown mark %r", self.adapter.name, self.adapter.stream_id, name)
            return
        if self.session is not None:
            self.session.playback_report(mark.turn, mark.audio_s)
        self._observe("heard", {"turn": mark.turn, "audio_s": mark.audio_s, "name": name})

    async def pace(self) -> None:
        """Send queued frames no faster than real time plus the lead; marks right after their audio."""
        while True:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self.queue[0]
            if isinstance(item, _Frame):
                lead = self.playout_end - self.clock()
                if lead > self.lead_s:
                    await asyncio.sleep(lead - self.lead_s)
                    continue  # a clear may have emptied the queue meanwhile
                self.queue.popleft()
                self.playout_end = max(self.clock(), self.playout_end) + self.frame / self.adapter.rate
                await self._send(self.adapter.media(item.pcm), "media", item.turn, self._epoch)
            else:
                self.queue.popleft()
                await self._send(self.adapter.mark(item.name), "mark", item.turn, self._epoch, item)

    # ---- internals ---------------------------------------------------------

    def _frames(self, turn: int, pcm: np.ndarray, pad: bool = False) -> None:
        audio = np.concatenate([self._rest, pcm.astype(np.int16)])
        if pad and len(audio) % self.frame:
            audio = np.concatenate([audio, np.zeros(self.frame - len(audio) % self.frame, dtype=np.int16)])
        whole = len(audio) // self.frame * self.frame
        for start in range(0, whole, self.frame):
            self.queue.append(_Frame(turn, audio[start : start + self.frame]))
        self._rest = audio[whole:]
        if whole:
            self._wake.set()

    def _flush_turn(self) -> None:
        """The resampler's tail and the last partial frame (padded with silence) go out now."""
        if self._turn is None or self._resampler is None:
            return
        self._frames(self._turn, self._resampler.flush(), pad=True)

    async def _send(
        self, message: str | bytes, kind: str, turn: int | None, epoch: int | None = None, mark: _Mark | None = None
    ) -> None:
        async with self._lock:
            if epoch is not None and epoch != self._epoch:
                return  # popped before a clear that went out first: its audio is gone
            if mark is not None:
                self.outstanding[mark.name] = mark
            try:
                await self._send_raw(message)
            except ConnectionClosed:
                return
        self._observe("sent", {"kind": kind, "turn": turn, "t": self.clock()})

    def _observe(self, what: str, data: dict[str, Any]) -> None:
        if self.observer is not None:
            self.observer(what, data)


class PhoneCall:
    """Drives one carrier stream until it ends."""

    def __init__(
        self,
        ws: ServerConnection,
        models: Models,
        gateway: GatewayConfig,
        adapter: Adapter,
        phone: PhoneConfig,
        observer: Observer | None = None,
    ) -> None:
        self.ws, self.models, self.gateway, self.adapter, self.phone = ws, models, gateway, adapter, phone
        self.observer = observer
        self.session: Session | None = None
        self.sink: CarrierSink | None = None
        self.inbound: StreamResampler | None = None
        self.bad = 0
        self._pacer: asyncio.Task[None] | None = None

    @property
    def tag(self) -> str:
        """`carrier stream-id` for log lines."""
        return f"{self.adapter.name} {self.adapter.stream_id or '-'}"

    async def run(self) -> None:
        """Serve the stream; always ends with the session closed."""
        try:
            while True:
                try:
                    message = await asyncio.wait_for(self.ws.recv(), self.gateway.idle_timeout_s)
                except TimeoutError:
                    log.warning("[%s] no message for %g s: ending the call", self.tag, self.gateway.idle_timeout_s)
                    await self.ws.close(1000, "idle timeout")
                    return
                try:
                    events = self.adapter.parse(message)
                except BadMessage as exc:
                    if self._bad(str(exc)):
                        return
                    continue
                for event in events:
                    if not await self._handle(event):
                        return
        except ConnectionClosed:
            log.info("[%s] the carrier closed the socket", self.tag)
        except UnsupportedCall as exc:
            log.warning("[%s] %s: ending the call", self.tag, exc)
            await self.ws.close(1008, str(exc)[:120])
        finally:
            await self._end()

    async def _handle(self, event: object) -> bool:
        """Act on one call event; False ends the call."""
        if isinstance(event, Media):
            if self.session is None or self.inbound is None:
                return not self._bad("media before start")
            await self.session.push_audio(self.inbound.process(event.pcm))
        elif isinstance(event, MarkPlayed):
            if self.sink is not None:
                self.sink.mark_returned(event.name)
        elif isinstance(event, Start):
            if self.session is not None:
                return not self._bad("a second start")
            await self._start(event)
        elif isinstance(event, Dtmf):
            log.info("[%s] dtmf %r", self.tag, event.digit)
            if event.digit == "0" and self.session is not None:
                self.session.restart()
            self._observe("dtmf", {"digit": event.digit})
        elif isinstance(event, Stop):
            log.info("[%s] stop", self.tag)
            return False
        elif isinstance(event, Ignored) and event.unknown:
            log.info("[%s] ignoring unknown event %r", self.tag, event.kind)
        return True

    async def _start(self, start: Start) -> None:
        if not self._token_ok(start.params):
            raise UnsupportedCall("missing or wrong token")
        self.sink = CarrierSink(
            self.adapter, self.ws.send, self.models.tts.sample_rate, self.phone.max_carrier_lead_s, self.observer
        )
        config = self.gateway.session
        if self.phone.echo_guard is not None:
            config = replace(config, echo_guard=self.phone.echo_guard)
        self.session = Session(self.models, self.sink, config)
        self.sink.session = self.session
        self.inbound = StreamResampler(start.rate, SAMPLE_RATE, IN_QUALITY)
        await self.session.start()
        self._pacer = asyncio.create_task(self.sink.pace())
        log.info("[%s] call %s started (%d Hz)", self.tag, start.call_id or "?", start.rate)
        self._observe("start", {"stream_id": start.stream_id, "call_id": start.call_id, "params": start.params})

    def _token_ok(self, params: dict[str, str]) -> bool:
        """With a gateway token, the handshake or the call's parameters must carry it."""
        token = self.gateway.token
        if not token:
            return True
        request = self.ws.request
        given = [params.get("token", "")]
        if request is not None:
            given.append(parse_qs(urlsplit(request.path).query).get("token", [""])[0])
            auth = request.headers.get("Authorization", "")
            given.append(auth[7:] if auth.startswith("Bearer ") else "")
        return any(secrets.compare_digest(g.encode(), token.encode()) for g in given)

    def _bad(self, why: str) -> bool:
        """Log a bad message; True once there were too many and the call must end."""
        self.bad += 1
        log.warning("[%s] bad message: %s", self.tag, why)
        self._observe("bad", {"why": why})
        return self.bad >= self.phone.max_bad_messages

    async def _end(self) -> None:
        if self._pacer is not None:
            self._pacer.cancel()
            await asyncio.gather(self._pacer, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
        log.info("[%s] call ended", self.tag)
        self._observe("end", {"bad_messages": self.bad})

    def _observe(self, what: str, data: dict[str, Any]) -> None:
        if self.observer is not None:
            self.observer(what, data)
