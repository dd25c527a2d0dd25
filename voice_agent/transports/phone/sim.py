"""A simulated Twilio caller: speaks the Media Streams protocol against our server.

It sends `connected` and `start`, then one 20 ms µ-law `media` frame per tick
in real time (the caller's speech, or silence). What the server sends is
queued and played one frame per tick; a `mark` is returned only once every
frame before it has played, and a `clear` drops the queued audio and returns
the pending marks at once, as Twilio does. It records what the caller heard,
when, and anything the server sent that Twilio would reject.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ...audio import g711
from .events import b64decode, b64encode
from .twiml import twilio_signature

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz
TICK_S = FRAME / RATE


def speech_bounds(pcm: np.ndarray, rate: int = RATE, within_db: float = 35.0) -> tuple[int, int]:
    """(first, last+1) sample of the 10 ms frames within `within_db` of the loudest one."""
    hop = rate // 100
    n = len(pcm) // hop
    if n == 0:
        return 0, 0
    rms = np.sqrt(np.mean(pcm[: n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1))
    if rms.max() <= 0:
        return 0, 0
    loud = np.nonzero(rms >= rms.max() * 10 ** (-within_db / 20.0))[0]
    return int(loud[0] * hop), int((loud[-1] + 1) * hop)


@dataclass
class Said:
    """One utterance the caller spoke: its ticks and the times its speech began and ended."""

    first_tick: int
    onset_tick: int  # tick holding the first loud sample
    end_tick: int  # tick holding the last loud sample
    onset_t: float | None = None
    end_t: float | None = None


@dataclass
class TwilioCaller:
    """`async with TwilioCaller(url) as c: c.say(pcm); await c.run_until(...)`."""

    url: str
    params: dict[str, str] = field(default_factory=dict)
    auth_token: str | None = None  # signs the handshake like Twilio does
    clock: Callable[[], float] = time.monotonic
    stream_sid: str = field(default_factory=lambda: "MZ" + secrets.token_hex(16))
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    heard: list[np.ndarray] = field(default_factory=list)  # one played frame per tick
    media_times: list[float] = field(default_factory=list)  # when each media message arrived
    clears: list[float] = field(default_factory=list)
    marks_played: list[tuple[float, str]] = field(default_factory=list)
    marks_cleared: list[tuple[float, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    said: list[Said] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # when each inbound frame left
    closed: bool = False

    def __post_init__(self) -> None:
        self.ws: ClientConnection | None = None
        self._mic = np.zeros(0, dtype=np.int16)  # queued speech, starting at tick `_mic_tick`
        self._mic_tick = 0
        self._out: deque[np.ndarray | str] = deque()  # frames and mark names, in arrival order
        self._seq = 0
        self._dtmf: list[str] = []
        self._t0 = 0.0
        self._receiver: asyncio.Task[None] | None = None

    @property
    def tick(self) -> int:
        """Ticks sent so far."""
        return len(self.sent_at)

    async def __aenter__(self) -> TwilioCaller:
        headers = {}
        if self.auth_token:
            headers["X-Twilio-Signature"] = twilio_signature(self.auth_token, self.url, {})
        self.ws = await connect(self.url, additional_headers=headers, compression=None)
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {
            "accountSid": "AC" + "0" * 32,
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1},
            "customParameters": self.params,
        }
        await self._send({"event": "start", "start": start, "streamSid": self.stream_sid})
        self._receiver = asyncio.create_task(self._receive())
        self._t0 = self.clock()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    # ---- the caller's side -------------------------------------------------

    def say(self, pcm: np.ndarray) -> Said:
        """Queue 8 kHz speech after what is already queued (from the next tick at the earliest)."""
        queued_until = self._mic_tick * FRAME + len(self._mic)
        start = max(queued_until, self.tick * FRAME)
        start = -(-start // FRAME) * FRAME
        keep = self._mic[max(0, self.tick * FRAME - self._mic_tick * FRAME) :]
        gap = np.zeros(start - (self.tick * FRAME + len(keep)), dtype=np.int16)
        self._mic = np.concatenate([keep, gap, np.asarray(pcm, dtype=np.int16)])
        self._mic_tick = self.tick
        onset, end = speech_bounds(np.asarray(pcm, dtype=np.int16))
        said = Said(start // FRAME, (start + onset) // FRAME, (start + max(end - 1, 0)) // FRAME)
        self.said.append(said)
        return said

    def press(self, digit: str) -> None:
        """Send a DTMF digit on the next tick."""
        self._dtmf.append(digit)

    def speaking(self) -> bool:
        """True while queued speech is still being sent."""
        return self.tick * FRAME < self._mic_tick * FRAME + len(self._mic)

    def heard_audio(self) -> np.ndarray:
        """Everything the caller heard, one frame per tick (silence when nothing played)."""
        return np.concatenate(self.heard) if self.heard else np.zeros(0, dtype=np.int16)

    def queued_s(self) -> float:
        """Seconds of agent audio waiting to be played."""
        return sum(1 for x in self._out if not isinstance(x, str)) * TICK_S

    def quiet_for(self, seconds: float) -> bool:
        """True when nothing is queued and no media arrived for `seconds`."""
        last = self.media_times[-1] if self.media_times else self._t0
        return not self._out and self.clock() - last >= seconds

    async def run_until(self, done: Callable[[], bool], max_s: float) -> bool:
        """Tick in real time until `done()` (True) or `max_s` seconds pass (False)."""
        stop_at = self.clock() + max_s
        while not self.closed:
            if done():
                return True
            if self.clock() >= stop_at:
                return False
            delay = self._t0 + self.tick * TICK_S - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._tick()
        return done()

    async def hang_up(self) -> None:
        """Send `stop` and close."""
        if self.ws is not None and not self.closed:
            stop = {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid}
            await self._send({"event": "stop", "streamSid": self.stream_sid, "stop": stop})
            await self.ws.close()
        self.closed = True
        if self._receiver is not None:
            await asyncio.gather(self._receiver, return_exceptions=True)

    # ---- internals ---------------------------------------------------------

    async def _tick(self) -> None:
        offset = self.tick * FRAME - self._mic_tick * FRAME
        frame = self._mic[offset : offset + FRAME]
        frame = np.concatenate([frame, np.zeros(FRAME - len(frame), dtype=np.int16)])
        ts = str(self.tick * 20)
        media = {
            "track": "inbound",
            "chunk": str(self.tick + 1),
            "timestamp": ts,
            "payload": b64encode(g711.ulaw_encode(frame)),
        }
        await self._send({"event": "media", "streamSid": self.stream_sid, "media": media})
        now = self.clock()
        for s in self.said:
            if s.onset_tick == self.tick:
                s.onset_t = now
            if s.end_tick == self.tick:
                s.end_t = now
        self.sent_at.append(now)
        while self._dtmf:
            digit = self._dtmf.pop(0)
            await self._send(
                {"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}}
            )
        played = np.zeros(FRAME, dtype=np.int16)
        if self._out and not isinstance(self._out[0], str):
            played = self._out.popleft()  # type: ignore[assignment]
        self.heard.append(played)
        while self._out and isinstance(self._out[0], str):
            name = str(self._out.popleft())
            self.marks_played.append((self.clock(), name))
            await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def _receive(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.violations.append("binary frame (Twilio accepts JSON text frames only)")
                    continue
                await self._on_message(json.loads(message))
        except ConnectionClosed:
            pass
        finally:
            self.closed = True

    async def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("event")
        if msg.get("streamSid") != self.stream_sid:
            self.violations.append(f"{kind} with streamSid {msg.get('streamSid')!r}")
        if kind == "media":
            data = b64decode(msg.get("media", {}).get("payload"))
            if len(data) == 0 or len(data) % FRAME:
                self.violations.append(f"media of {len(data)} bytes (not whole 20 ms frames)")
            self.media_times.append(self.clock())
            pcm = g711.ulaw_decode(data)
            for start in range(0, len(pcm) - FRAME + 1, FRAME):
                self._out.append(pcm[start : start + FRAME])
        elif kind == "mark":
            self._out.append(str(msg.get("mark", {}).get("name", "")))
        elif kind == "clear":
            now = self.clock()
            self.clears.append(now)
            pending = [x for x in self._out if isinstance(x, str)]
            self._out.clear()
            for name in pending:  # Twilio returns the marks of the audio it dropped
                self.marks_cleared.append((now, name))
                await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
        else:
            self.violations.append(f"unknown event {kind!r}")

    async def _send(self, msg: dict[str, Any]) -> None:
        if self.ws is None or self.closed:
            return
        self._seq += 1
        try:
            await self.ws.send(json.dumps({**msg, "sequenceNumber": str(self._seq)}))
        except ConnectionClosed:
            self.closed = True
