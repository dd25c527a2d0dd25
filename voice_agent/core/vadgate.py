"""Speech start/end hysteresis over per-frame VAD decisions, counted in samples.

A single voiced frame is not speech (clicks, breaths) and a single unvoiced
frame is not silence (stops between syllables). Speech starts once `start_ms`
of the last `start_window_ms` was voiced, and ends after `end_ms` of
consecutive unvoiced audio. Positions are sample indices into the input
stream, so the gate needs no clock and tests need no sleeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class GateConfig:
    """Hysteresis thresholds in milliseconds."""

    start_ms: int = 120
    start_window_ms: int = 200
    end_ms: int = 180


@dataclass(frozen=True)
class GateChange:
    """The gate opened (speech) or closed (silence) at sample `at`.

    `blip` changes report a voiced frame ending at `at` while the gate stayed
    closed: not speech yet, but not silence either.
    """

    speech: bool
    at: int
    blip: bool = False


class VadGate:
    """Turns per-frame voiced/unvoiced decisions into speech start/end changes."""

    def __init__(self, sample_rate: int, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        self.rate = sample_rate
        self.speaking = False
        self.position = 0  # samples seen so far
        self._window: deque[tuple[int, int, bool]] = deque()  # (start, length, voiced)
        self._unvoiced_run = 0
        self._last_voiced_end = 0

    @property
    def unvoiced_run(self) -> int:
        """Samples of unvoiced audio since the last voiced frame."""
        return self._unvoiced_run

    @property
    def last_voiced_end(self) -> int:
        """Sample index just after the last voiced frame."""
        return self._last_voiced_end

    def _samples(self, ms: int) -> int:
        return self.rate * ms // 1000

    def push(self, n_samples: int, voiced: bool) -> GateChange | None:
        """Account for one frame of `n_samples`; return a change if the gate flips."""
        start = self.position
        self.position += n_samples
        if voiced:
            self._last_voiced_end = self.position
            self._unvoiced_run = 0
        else:
            self._unvoiced_run += n_samples
        if self.speaking:
            if self._unvoiced_run >= self._samples(self.config.end_ms):
                self.speaking = False
                self._window.clear()
                return GateChange(False, self._last_voiced_end)
            return None
        self._window.append((start, n_samples, voiced))
        horizon = self.position - self._samples(self.config.start_window_ms)
        while self._window and self._window[0][0] < horizon:
            self._window.popleft()
        voiced_samples = sum(n for _, n, v in self._window if v)
        if voiced_samples >= self._samples(self.config.start_ms):
            self.speaking = True
            first_voiced = next(s for s, _, v in self._window if v)
            self._window.clear()
            return GateChange(True, first_voiced)
        return GateChange(False, self.position, blip=True) if voiced else None
