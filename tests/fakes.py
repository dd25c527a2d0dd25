"""Fake stages for session tests: fast, deterministic, observable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice_agent.models import Models
from voice_agent.stages.base import Cancelled, Message, StageError

RATE = 16000


def tone(ms: int, rate: int = RATE, amp: float = 0.3, hz: float = 220.0) -> np.ndarray:
    """A tone standing in for speech (the fake VAD calls it voiced)."""
    t = np.arange(rate * ms // 1000) / rate
    return (amp * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def quiet(ms: int, rate: int = RATE) -> np.ndarray:
    """Silence."""
    return np.zeros(rate * ms // 1000, dtype=np.int16)


class EnergyVad:
    """Voiced when the frame's RMS is above a threshold."""

    frame_samples = 320

    def __init__(self, aggressiveness: int = 2) -> None:
        self.threshold = 500.0

    def is_speech(self, frame: np.ndarray) -> bool:
        return float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > self.threshold


@dataclass
class FakeAsr:
    """Returns `text(n_samples)` after `delay` seconds."""

    text: Callable[[int], str] = lambda n: "hello there."
    delay: float = 0.02
    calls: list[tuple[int, bool]] = field(default_factory=list)

    def transcribe(self, audio: np.ndarray, final: bool) -> str:
        self.calls.append((len(audio), final))
        time.sleep(self.delay)
        return self.text(len(audio))


@dataclass
class FakeLlm:
    """Streams `reply` word by word, `per_token` seconds apart; honours cancellation."""

    reply: str = "Hi! Nice to hear from you. How are you doing today?"
    per_token: float = 0.005
    fail: bool = False
    prompts: list[list[Message]] = field(default_factory=list)
    stopped_early: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    p_end: float | None = None
    scored: list[str] = field(default_factory=list)  # the user texts end_of_turn was asked about
    scoring_s: float = 0.0  # how long end_of_turn takes

    def warm(self, messages: list[Message]) -> None:
        pass

    def end_of_turn(self, messages: list[Message]) -> float | None:
        self.scored.append(messages[-1].content)
        time.sleep(self.scoring_s)
        return self.p_end

    def stream(self, messages: list[Message], cancelled: Cancelled) -> Iterator[str]:
        self.prompts.append(list(messages))
        if self.fail:
            raise StageError("the fake LLM server is down")
        words = self.reply.split(" ")
        try:
            for i, w in enumerate(words):
                if cancelled():
                    return
                time.sleep(self.per_token)
                yield w if i == 0 else " " + w
            self.finished.set()
        finally:  # also reached when the consumer closes the generator early
            if not self.finished.is_set():
                self.stopped_early.set()


@dataclass
class FakeTurnModel:
    """Says `p` for every utterance; keeps the audio it was given."""

    p: float = 0.95
    heard: list[np.ndarray] = field(default_factory=list)
    took_s: float = 0.0  # how long each call takes

    def p_done(self, audio: np.ndarray) -> float:
        self.heard.append(audio)
        time.sleep(self.took_s)
        return self.p


@dataclass
class FakeTts:
    """60 ms of tone per word at 16 kHz; fails on the calls listed in `fail_on`."""

    sample_rate: int = RATE
    fail_on: set[int] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)

    def synthesize(self, text: str) -> np.ndarray:
        self.texts.append(text)
        if len(self.texts) in self.fail_on:
            raise StageError("the fake TTS crashed")
        return tone(60 * len(text.split()), self.sample_rate, amp=0.2, hz=350.0)  # not the user's pitch


def fake_models(**kw: Any) -> Models:
    """Models made of fakes; override any stage by keyword."""
    return Models(
        asr=kw.get("asr") or FakeAsr(),
        llm=kw.get("llm") or FakeLlm(),
        tts=kw.get("tts") or FakeTts(),
        turn_model=kw.get("turn_model"),
        make_vad=EnergyVad,
    )


@dataclass
class RecordingSink:
    """Collects everything a session sends."""

    audio: list[tuple[float, int, int]] = field(default_factory=list)  # (time, turn, samples)
    events: list[dict[str, Any]] = field(default_factory=list)

    async def send_audio(self, turn: int, pcm: np.ndarray) -> None:
        self.audio.append((time.monotonic(), turn, len(pcm)))

    async def send_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]
