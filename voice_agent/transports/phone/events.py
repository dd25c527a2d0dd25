"""What carrier adapters turn messages into, and what they turn our output into.

Adapters are sans-I/O: `parse(message)` returns call events (or raises
BadMessage), and `media/mark/clear` build the messages to send. The bridge
does all the I/O, pacing and session work for every carrier alike.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class BadMessage(ValueError):
    """A carrier message we cannot use (logged; the call goes on)."""


class UnsupportedCall(ValueError):
    """The call cannot be served (wrong audio format, bad credentials): it ends."""


@dataclass(frozen=True)
class Connected:
    """The carrier opened the stream (no audio yet)."""


@dataclass(frozen=True)
class Start:
    """Stream metadata: ids, audio rate and the custom parameters of the call."""

    stream_id: str
    call_id: str = ""
    rate: int = 8000
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    """Caller audio, int16 mono at the stream's rate."""

    pcm: np.ndarray


@dataclass(frozen=True)
class MarkPlayed:
    """The carrier played everything queued before the mark `name` (or cleared it)."""

    name: str


@dataclass(frozen=True)
class Dtmf:
    """A key pressed by the caller."""

    digit: str


@dataclass(frozen=True)
class Stop:
    """The carrier ends the stream (the caller hung up)."""


@dataclass(frozen=True)
class Ignored:
    """A message with nothing to do (a clear acknowledgement, an unknown event)."""

    kind: str
    unknown: bool = False


CallEvent = Connected | Start | Media | MarkPlayed | Dtmf | Stop | Ignored


class Adapter(Protocol):
    """One carrier's wire format."""

    name: str
    rate: int  # audio rate on the wire, known after Start
    stream_id: str

    def parse(self, message: str | bytes) -> list[CallEvent]:
        """Decode one websocket message (raises BadMessage)."""
        ...

    def media(self, pcm: np.ndarray) -> str | bytes:
        """The message carrying one 20 ms frame of int16 audio at `rate`."""
        ...

    def mark(self, name: str) -> str:
        """A marker the carrier echoes back once everything before it has played."""
        ...

    def clear(self) -> str:
        """Drop everything queued at the carrier now."""
        ...


def b64decode(payload: object) -> bytes:
    """Strict base64 (BadMessage on anything else)."""
    if not isinstance(payload, str):
        raise BadMessage("media payload is not a string")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadMessage(f"media payload is not base64: {exc}") from exc


def b64encode(data: bytes) -> str:
    """base64 text of `data`."""
    return base64.b64encode(data).decode("ascii")


def pcm16_from_bytes(data: bytes) -> np.ndarray:
    """Little-endian 16-bit PCM; an odd trailing byte is dropped."""
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
