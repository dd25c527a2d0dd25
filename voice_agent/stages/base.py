"""The Protocols every backend implements.

All model calls are blocking and run in worker threads; the session owns the
threads. Cancellation contract: each streaming call takes `cancelled`, a
callable polled between chunks (tokens, segments); once it returns True the
call stops producing within one chunk and returns. Nothing it produced after
that is used: the session also drops any item whose turn id is stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

Cancelled = Callable[[], bool]


class StageError(RuntimeError):
    """A stage failed; the message is meant for a person."""


class ModelMissingError(StageError):
    """A model file is not where it should be; the message says what to install."""


class Vad(Protocol):
    """Per-frame voice activity decision."""

    frame_samples: int

    def is_speech(self, frame: np.ndarray) -> bool:
        """True if this int16 frame of `frame_samples` at 16 kHz holds speech."""
        ...


class Transcript(str):
    """A transcript that knows how sure the recogniser was of the full stop, question or exclamation mark it ends on."""

    p_stop: float | None  # None: it ends on no such mark, or the recogniser does not tell

    def __new__(cls, text: str, p_stop: float | None = None) -> Transcript:
        """`text`, with `p_stop` the recogniser's probability of its final mark."""
        obj = super().__new__(cls, text)
        obj.p_stop = p_stop
        return obj


def p_stop_of(text: str) -> float | None:
    """The recogniser's probability of the mark that ends `text`, if it is a Transcript that has one."""
    return getattr(text, "p_stop", None)


class Asr(Protocol):
    """Speech to text on a whole utterance (called again as it grows)."""

    def transcribe(self, audio: np.ndarray, final: bool) -> str:
        """Transcribe float32 16 kHz mono audio; `final` asks for the best effort.

        A backend may return a `Transcript` to tell how sure it is of the final full stop."""
        ...


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: str  # "system" | "user" | "assistant"
    content: str


class Llm(Protocol):
    """A chat model that streams text."""

    def stream(self, messages: list[Message], cancelled: Cancelled) -> Iterator[str]:
        """Yield text deltas of the reply; stop as soon as `cancelled()` is True."""
        ...

    def warm(self, messages: list[Message]) -> None:
        """Pre-compute the prompt prefix (system prompt) so a turn starts fast."""
        ...

    def end_of_turn(self, messages: list[Message]) -> float | None:
        """Probability that the last (user) message is complete; None if unknown."""
        ...


class TurnModel(Protocol):
    """Hears whether a speaker has finished, from the sound of the voice."""

    def p_done(self, audio: np.ndarray) -> float:
        """P(the speaker is done) for float32 16 kHz audio ending shortly after their last word."""
        ...


class Tts(Protocol):
    """Text to speech, one clause at a time."""

    sample_rate: int

    def synthesize(self, text: str) -> np.ndarray:
        """Return int16 mono audio at `sample_rate` for one clause."""
        ...


@runtime_checkable
class TimedTts(Tts, Protocol):
    """A Tts that can also tell where each word of a clause lies in its audio."""

    def synthesize_timed(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]] | None]:
        """Audio for one clause and each word's (start, end) samples in it (None: not known)."""
        ...
