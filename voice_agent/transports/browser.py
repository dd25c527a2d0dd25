"""One browser conversation: websocket messages in, a Session in the middle, events and audio out.

Cancellation: when the client goes away (close, network loss, idle timeout,
or the handler task is cancelled at shutdown) `session.close()` runs in a
`finally`, so no task or model thread of this conversation outlives it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

import numpy as np
from websockets.exceptions import ConnectionClosed

from ..audio.pcm import SAMPLE_RATE
from ..audio.resample import StreamResampler
from ..session import Session
from . import protocol as p

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from ..models import Models
    from .gateway import GatewayConfig

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0


class BrowserSink:
    """Session output -> websocket: JSON events and turn-tagged binary audio.

    Audio of a cleared turn is dropped here too, so nothing of it leaves after
    the `clear` event. A vanished client is not an error of the session: sends
    fail silently and the receive loop ends the conversation.
    """

    def __init__(self, ws: ServerConnection, native_rate: int, out_rate: int) -> None:
        self.ws = ws
        self.native_rate = native_rate
        self.out_rate = out_rate
        self.cleared: set[int] = set()  # turns whose audio must not go out (until a resume)
        self._resamplers: dict[int, StreamResampler] = {}

    async def send_audio(self, turn: int, pcm: np.ndarray) -> None:
        """Send one piece of `turn`'s audio, resampled to the client's output rate."""
        if turn in self.cleared:
            return
        if self.out_rate != self.native_rate:
            rs = self._resamplers.setdefault(turn, StreamResampler(self.native_rate, self.out_rate))
            pcm = rs.process(pcm)
            if not len(pcm):
                return
        await self._send(p.encode_audio(turn, pcm))

    async def send_event(self, event: dict[str, Any]) -> None:
        """Forward a session event; `clear`, `resume` and clause marks also act on the audio path."""
        kind = event.get("type")
        turn = event.get("turn")
        if kind == "clear" and isinstance(turn, int):
            self.cleared.add(turn)
            self._resamplers.pop(turn, None)
        elif kind == "resume" and isinstance(turn, int):
            self.cleared.discard(turn)
        elif kind == "mark" and isinstance(turn, int) and turn in self._resamplers and turn not in self.cleared:
            # The resampler holds a few ms back; a clause's end must not stay stuck in it.
            tail = self._resamplers.pop(turn).flush()
            if len(tail):
                await self._send(p.encode_audio(turn, tail))
        await self._send(p.encode_event(event))

    async def _send(self, message: str | bytes) -> None:
        try:
            await self.ws.send(message)
        except ConnectionClosed:
            pass


async def browser_handler(ws: ServerConnection, models: Models, config: GatewayConfig) -> None:
    """Serve one browser conversation on `ws` until the client leaves."""
    try:
        hello = await _await_hello(ws)
    except TimeoutError:
        await _send_quietly(ws, p.error_event("hello_timeout", f"no hello within {HELLO_TIMEOUT_S:g} s"))
        await ws.close(1008, "no hello")
        return
    except ConnectionClosed:
        return
    if hello is None:
        return
    native = models.tts.sample_rate
    sink = BrowserSink(ws, native, hello.output_sample_rate or native)
    session = Session(models, sink, config.session)
    session_id = secrets.token_hex(6)
    resampler = StreamResampler(hello.sample_rate, SAMPLE_RATE)
    max_frame = config.max_frame_ms * hello.sample_rate // 1000 * 2
    await sink.send_event(
        {
            "type": "ready",
            "protocol": p.PROTOCOL_VERSION,
            "session": session_id,
            "input_sample_rate": hello.sample_rate,
            "output_sample_rate": sink.out_rate,
            "encoding": p.ENCODING,
            "max_frame_bytes": max_frame,
        }
    )
    await session.start()
    log.info("session %s started (input %d Hz)", session_id, hello.sample_rate)
    try:
        while True:
            try:
                message = await asyncio.wait_for(ws.recv(), config.idle_timeout_s)
            except TimeoutError:
                await sink.send_event(p.error_event("idle_timeout", f"no message for {config.idle_timeout_s:g} s"))
                await ws.close(1000, "idle timeout")
                return
            try:
                if isinstance(message, bytes):
                    pcm = p.parse_audio_frame(message, max_frame)
                    await session.push_audio(resampler.process(pcm))
                    continue
                msg = p.parse_client_message(message)
            except p.ProtocolError as exc:
                await sink.send_event(exc.event())
                continue
            if isinstance(msg, p.Playback):
                session.playback_report(msg.turn, msg.heard_s)
            elif isinstance(msg, p.Bye):
                await ws.close(1000, "bye")
                return
            elif isinstance(msg, p.Text):
                await sink.send_event(p.error_event("not_supported", "typed text is not supported yet: speak"))
            elif isinstance(msg, p.Hello):
                await sink.send_event(p.error_event("bad_message", "hello was already received"))
    except ConnectionClosed:
        pass
    finally:
        await session.close()
        log.info("session %s closed", session_id)


async def _await_hello(ws: ServerConnection) -> p.Hello | None:
    """Read messages until a valid hello (None: the client said bye); each invalid one gets an error."""
    async with asyncio.timeout(HELLO_TIMEOUT_S):
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                error = p.error_event("hello_first", "send a hello message before any audio")
            else:
                try:
                    msg = p.parse_client_message(message)
                except p.ProtocolError as exc:
                    error = exc.event()
                else:
                    if isinstance(msg, p.Hello):
                        return msg
                    if isinstance(msg, p.Bye):
                        await ws.close(1000, "bye")
                        return None
                    error = p.error_event("hello_first", "the first message must be a hello")
            await ws.send(p.encode_event(error))


async def _send_quietly(ws: ServerConnection, event: dict[str, Any]) -> None:
    try:
        await ws.send(p.encode_event(event))
    except ConnectionClosed:
        pass
