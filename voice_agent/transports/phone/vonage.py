"""Vonage websockets: binary 16-bit PCM (16 kHz here), JSON text for `websocket:*` events.

There is no start message with a stream id: the first text message,
`websocket:connected`, carries the content type and the custom headers of the
NCCO. Marks are `notify` actions that Vonage echoes as `websocket:notify`
once the audio queued before them has played; `clear` drops its queue.
"""

from __future__ import annotations

import re
import secrets

import numpy as np

from . import jsonmsg
from .events import (
    BadMessage,
    CallEvent,
    Connected,
    Dtmf,
    Ignored,
    MarkPlayed,
    Media,
    Start,
    UnsupportedCall,
    pcm16_from_bytes,
)

RATE_RE = re.compile(r"audio/l16;\s*rate=(\d+)", re.IGNORECASE)


class VonageAdapter:
    """Vonage `websocket:connected/dtmf/notify/cleared` and binary audio in; binary audio and actions out."""

    name = "vonage"

    def __init__(self) -> None:
        self.rate = 16000
        self.stream_id = ""
        self.started = False

    def parse(self, message: str | bytes) -> list[CallEvent]:
        """Decode one message (binary: caller audio)."""
        if isinstance(message, bytes):
            if len(message) % 2:
                raise BadMessage(f"odd-length audio frame ({len(message)} bytes)")
            return [Media(pcm16_from_bytes(message))]
        msg = jsonmsg.load(message, "Vonage")
        kind = msg.get("event")
        if kind == "websocket:connected":
            if self.started:
                raise BadMessage("a second websocket:connected")
            match = RATE_RE.search(str(msg.get("content-type", "")))
            if match is None or int(match.group(1)) not in (8000, 16000):
                raise UnsupportedCall(f"unsupported content-type {msg.get('content-type')!r}")
            self.rate, self.started = int(match.group(1)), True
            self.stream_id = str(msg.get("uuid") or msg.get("conversation_uuid") or secrets.token_hex(8))
            params = {k: str(v) for k, v in msg.items() if k not in ("event", "content-type")}
            return [Connected(), Start(self.stream_id, str(msg.get("uuid", "")), self.rate, params)]
        if kind == "websocket:notify":
            return [MarkPlayed(str(jsonmsg.obj(msg, "payload").get("name", "")))]
        if kind == "websocket:dtmf":
            digit = msg.get("digit") or jsonmsg.obj(msg, "dtmf").get("digit", "")
            return [Dtmf(str(digit))]
        if kind == "websocket:cleared":
            return [Ignored(str(kind))]
        return [Ignored(str(kind), unknown=True)]

    def media(self, pcm: np.ndarray) -> bytes:
        """One 20 ms frame of raw 16-bit little-endian PCM (640 bytes at 16 kHz)."""
        return pcm.astype("<i2").tobytes()

    def mark(self, name: str) -> str:
        """A notify action, echoed back once the audio before it has played."""
        return jsonmsg.dump({"action": "notify", "payload": {"name": name}})

    def clear(self) -> str:
        """Drop Vonage's queued audio."""
        return jsonmsg.dump({"action": "clear"})
