"""The browser websocket protocol, version 1: parse client messages, encode server ones.

Pure: no asyncio, no sockets, no clock. Every malformed input raises
`ProtocolError`, whose code and message go back to the client as an `error`
event while the session goes on. The wire format is documented in
docs/protocol.md.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

PROTOCOL_VERSION = 1
ENCODING = "pcm_s16le"
MIN_RATE = 8000
MAX_RATE = 192000
MAX_TEXT_CHARS = 2000

# Server audio messages: b"VA", version, kind (1 = PCM s16le mono), uint32 turn, then samples.
AUDIO_MAGIC = b"VA"
AUDIO_KIND_PCM = 1
_AUDIO_HEADER = struct.Struct("<2sBBI")
AUDIO_HEADER_BYTES = _AUDIO_HEADER.size


class ProtocolError(ValueError):
    """A client message that breaks the protocol; `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def event(self) -> dict[str, Any]:
        """The `error` event that tells the client what was wrong."""
        return error_event(self.code, self.message)


@dataclass(frozen=True)
class Hello:
    """The first message: protocol version and the format of the audio that follows."""

    protocol: int
    sample_rate: int
    encoding: str = ENCODING
    output_sample_rate: int | None = None  # None: the server's native rate


@dataclass(frozen=True)
class Playback:
    """The listener has heard `heard_s` seconds of turn `turn`'s audio."""

    turn: int
    heard_s: float


@dataclass(frozen=True)
class Text:
    """Typed text instead of speech."""

    text: str


@dataclass(frozen=True)
class Bye:
    """The client is leaving."""


ClientMessage = Hello | Playback | Text | Bye


def error_event(code: str, message: str) -> dict[str, Any]:
    """An `error` event: a machine-readable code and a sentence for a person."""
    return {"type": "error", "code": code, "message": message}


def encode_event(event: dict[str, Any]) -> str:
    """A server event as one JSON text message."""
    return json.dumps(event, separators=(",", ":"), allow_nan=False)


def parse_client_message(text: str) -> ClientMessage:
    """Parse one text message from the client."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"text messages must be JSON objects: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("bad_json", "text messages must be JSON objects")
    kind = msg.get("type")
    if kind == "hello":
        return _hello(msg)
    if kind == "playback":
        turn = _int(msg, "turn", 0, 2**32 - 1)
        heard = msg.get("heard_s")
        if isinstance(heard, bool) or not isinstance(heard, int | float) or not math.isfinite(heard) or heard < 0:
            raise ProtocolError("bad_message", "playback.heard_s must be a finite number >= 0")
        return Playback(turn, float(heard))
    if kind == "text":
        body = msg.get("text")
        if not isinstance(body, str) or not body.strip() or len(body) > MAX_TEXT_CHARS:
            raise ProtocolError("bad_message", f"text.text must be a non-empty string of ≤ {MAX_TEXT_CHARS} chars")
        return Text(body)
    if kind == "bye":
        return Bye()
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "every message needs a string field 'type'")
    raise ProtocolError("unknown_type", f"unknown message type {kind[:40]!r}")


def _int(msg: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = msg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError("bad_message", f"{msg.get('type')}.{key} must be an integer in [{lo}, {hi}]")
    return value


def _hello(msg: dict[str, Any]) -> Hello:
    version = msg.get("protocol")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError("bad_version", f"this server speaks protocol {PROTOCOL_VERSION}, not {version!r}")
    rate = msg.get("sample_rate")
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise ProtocolError("bad_sample_rate", f"hello.sample_rate must be an integer in [{MIN_RATE}, {MAX_RATE}]")
    encoding = msg.get("encoding", ENCODING)
    if encoding != ENCODING:
        raise ProtocolError("bad_encoding", f"only {ENCODING!r} audio is supported, not {str(encoding)[:40]!r}")
    out = msg.get("output_sample_rate")
    if out is not None and (isinstance(out, bool) or not isinstance(out, int) or not MIN_RATE <= out <= MAX_RATE):
        raise ProtocolError(
            "bad_sample_rate", f"hello.output_sample_rate must be an integer in [{MIN_RATE}, {MAX_RATE}]"
        )
    return Hello(PROTOCOL_VERSION, rate, encoding, out)


def parse_audio_frame(data: bytes, max_bytes: int) -> np.ndarray:
    """Client audio: little-endian int16 mono samples, a whole number of them, at most `max_bytes`."""
    if not data:
        raise ProtocolError("bad_audio", "empty audio frame")
    if len(data) > max_bytes:
        raise ProtocolError("audio_too_large", f"audio frames may hold at most {max_bytes} bytes, got {len(data)}")
    if len(data) % 2:
        raise ProtocolError("bad_audio", f"16-bit PCM needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def encode_audio(turn: int, pcm: np.ndarray) -> bytes:
    """A server audio message: header with the turn id, then int16 little-endian samples."""
    header = _AUDIO_HEADER.pack(AUDIO_MAGIC, PROTOCOL_VERSION, AUDIO_KIND_PCM, turn & 0xFFFFFFFF)
    return header + np.asarray(pcm, dtype="<i2").tobytes()


def decode_audio(data: bytes) -> tuple[int, np.ndarray]:
    """Inverse of `encode_audio` (for clients and tests): (turn, int16 samples)."""
    if len(data) < AUDIO_HEADER_BYTES or (len(data) - AUDIO_HEADER_BYTES) % 2:
        raise ProtocolError("bad_audio", "not a protocol audio message")
    magic, version, kind, turn = _AUDIO_HEADER.unpack_from(data)
    if magic != AUDIO_MAGIC or version != PROTOCOL_VERSION or kind != AUDIO_KIND_PCM:
        raise ProtocolError("bad_audio", "not a protocol audio message")
    return turn, np.frombuffer(data, dtype="<i2", offset=AUDIO_HEADER_BYTES).astype(np.int16)
