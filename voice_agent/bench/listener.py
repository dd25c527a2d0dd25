"""A simulated listener for the benchmark: plays what the session sends on a playout clock.

It is the OutputSink of benchmark sessions. Audio plays back to back from the
moment it arrives (no jitter buffer); a `clear` event drops whatever had not
played yet. From that playout it answers what the bench needs: when a turn
started and stopped being heard, what exactly was heard, and the echo a
microphone would pick up at a given delay and gain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..audio.pcm import SAMPLE_RATE
from ..audio.resample import resample


@dataclass
class Played:
    """One piece of audio on the playout clock."""

    start: float
    turn: int
    pcm: np.ndarray  # at the output rate; shortened when a clear cut it
    mic: np.ndarray  # the same audio at 16 kHz, for echo mixing


@dataclass
class SimulatedListener:
    """Records and 'plays' a session's output in real time."""

    clock: Callable[[], float]
    rate: int = 22050
    pieces: list[Played] = field(default_factory=list)
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    playout_end: float = 0.0

    async def send_audio(self, turn: int, pcm: np.ndarray) -> None:
        """Queue one audio piece behind whatever is still playing."""
        start = max(self.clock(), self.playout_end)
        self.pieces.append(Played(start, turn, pcm, resample(pcm, self.rate, SAMPLE_RATE)))
        self.playout_end = start + len(pcm) / self.rate

    async def send_event(self, event: dict[str, Any]) -> None:
        """Record an event; a clear drops all audio not yet played."""
        now = self.clock()
        self.events.append((now, event))
        if event.get("type") == "clear":
            kept = []
            for p in self.pieces:
                if p.start >= now:
                    continue
                played = int((now - p.start) * self.rate)
                if played < len(p.pcm):
                    p.pcm = p.pcm[:played]
                    p.mic = p.mic[: int((now - p.start) * SAMPLE_RATE)]
                kept.append(p)
            self.pieces = kept
            self.playout_end = min(self.playout_end, now)

    # ---- what was heard ----------------------------------------------------

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Events of one type."""
        return [e for _, e in self.events if e.get("type") == kind]

    def turns_heard(self) -> list[int]:
        """Turn ids in the order their audio was first played."""
        seen: list[int] = []
        for p in self.pieces:
            if p.turn not in seen and len(p.pcm):
                seen.append(p.turn)
        return seen

    def first_heard(self, turn: int) -> float | None:
        """When the first sample of `turn` played."""
        starts = [p.start for p in self.pieces if p.turn == turn and len(p.pcm)]
        return min(starts) if starts else None

    def last_heard(self, turn: int) -> float | None:
        """When the last played sample of `turn` ended (after any clear)."""
        ends = [p.start + len(p.pcm) / self.rate for p in self.pieces if p.turn == turn and len(p.pcm)]
        return max(ends) if ends else None

    def playing(self, now: float) -> bool:
        """True if audio is playing at `now`."""
        return any(p.start <= now < p.start + len(p.pcm) / self.rate for p in self.pieces)

    def heard_audio(self, turn: int) -> np.ndarray:
        """Everything of `turn` that played, in order (output rate)."""
        parts = [p.pcm for p in self.pieces if p.turn == turn]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def all_audio(self) -> np.ndarray:
        """Everything that played, in order (output rate)."""
        parts = [p.pcm for p in self.pieces]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def echo(self, t: float, n: int, delay_s: float, gain: float) -> np.ndarray:
        """What a microphone hears of the playout in the `n` samples from `t`, delayed and scaled."""
        out = np.zeros(n, dtype=np.float32)
        t0 = t - delay_s
        for p in self.pieces:
            offset = int(round((p.start - t0) * SAMPLE_RATE))
            a, b = max(0, offset), min(n, offset + len(p.mic))
            if a < b:
                out[a:b] += p.mic[a - offset : b - offset].astype(np.float32)
        return out * gain
