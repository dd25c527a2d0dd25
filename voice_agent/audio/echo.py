"""Self-echo suppression from the known reference: the agent hears itself, but knows what it said.

On speakers the microphone picks up the agent's own voice a few tens of
milliseconds later and some decibels quieter. The session records what it
plays, placed on the input's sample timeline; for each input frame the guard
finds the delay that best explains the input by the reference (a search
over 0–`max_lag_ms`, refined over a longer block), fits a gain by least
squares, and subtracts the echo. The VAD then sees the residual: silence
when only the echo came back, the user's voice when they talk over it.

This is a one-path canceller. Real rooms add reverberation that it leaves in
the residual, so the residual must also be loud relative to the echo to count
as speech; browsers add their own `echoCancellation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EchoStats:
    """What the guard did, for tests and the benchmark."""

    frames_with_echo: int = 0
    frames_suppressed: int = 0
    lag_ms: float | None = None
    gain_db: float | None = None


class EchoGuard:
    """Keeps the played reference on the input timeline and cleans input frames."""

    def __init__(self, rate: int = 16000, max_lag_ms: int = 300, keep_s: float = 3.0) -> None:
        self.rate = rate
        self.max_lag = rate * max_lag_ms // 1000
        self.keep = int(keep_s * rate)
        self._segments: list[tuple[int, np.ndarray]] = []  # (input position, float32 samples)
        self._lag: int | None = None
        self._block = rate // 5  # 200 ms of input to fit the delay on
        self._recent = np.zeros(0, dtype=np.float32)
        self._recent_end = 0
        self.stats = EchoStats()

    # ---- the reference ----------------------------------------------------

    def add_reference(self, position: int, pcm: np.ndarray) -> None:
        """Audio (int16 at `rate`) that starts playing at input sample `position`."""
        if len(pcm):
            self._segments.append((position, pcm.astype(np.float32) / 32768.0))

    def cut_reference(self, position: int) -> None:
        """Nothing from input sample `position` on will be played (the output was cleared)."""
        kept = []
        for start, samples in self._segments:
            if start < position:
                kept.append((start, samples[: max(0, position - start)]))
        self._segments = kept

    def _reference(self, start: int, end: int) -> np.ndarray:
        out = np.zeros(end - start, dtype=np.float32)
        for seg_start, samples in self._segments:
            a, b = max(start, seg_start), min(end, seg_start + len(samples))
            if a < b:
                out[a - start : b - start] += samples[a - seg_start : b - seg_start]
        return out

    # ---- cleaning ---------------------------------------------------------

    def process(self, frame: np.ndarray, position: int) -> tuple[np.ndarray, bool]:
        """Clean one int16 frame starting at input sample `position`.

        Returns the residual (int16) and whether the frame may count as the
        user's speech (False when it is explained by the agent's own voice).
        """
        self._segments = [(s, x) for s, x in self._segments if s + len(x) > position - self.keep]
        x = frame.astype(np.float32) / 32768.0
        self._remember(x, position)
        ref = self._reference(position - self.max_lag, position + len(frame))
        if float(np.max(np.abs(ref), initial=0.0)) < 1e-4:
            return frame, True
        self.stats.frames_with_echo += 1
        # Two candidate delays: the one fitted on the last 200 ms (stable) and the
        # best for this frame alone (right when the path just changed, or the
        # block held too little echo to fit); keep whichever explains more.
        best: tuple[float, int, float, np.ndarray] | None = None
        for lag in {self._fit_lag(), self._frame_lag(x, ref)}:
            echo = ref[self.max_lag - lag : self.max_lag - lag + len(frame)]
            energy = float(np.dot(echo, echo))
            if energy <= 1e-9:
                continue
            gain = float(np.clip(np.dot(x, echo) / energy, 0.0, 4.0))
            residual = x - gain * echo
            score = float(np.dot(residual, residual))
            if best is None or score < best[0]:
                best = (score, lag, gain, residual)
        if best is None:
            return frame, True
        _, lag, gain, residual = best
        echo = ref[self.max_lag - lag : self.max_lag - lag + len(frame)]
        energy = float(np.dot(echo, echo))
        res_rms = float(np.sqrt(np.mean(residual**2)))
        echo_rms = gain * float(np.sqrt(energy / len(echo)))
        self.stats.lag_ms = 1000.0 * lag / self.rate
        self.stats.gain_db = 20 * np.log10(gain) if gain > 0 else None
        # The user's voice over the echo keeps the residual loud; a leftover of
        # the agent's own voice (reverb, a misfit) stays well below the echo.
        speech_possible = res_rms > max(0.5 * echo_rms, 10 ** (-50 / 20))
        if not speech_possible:
            self.stats.frames_suppressed += 1
        out = np.clip(np.round(residual * 32768.0), -32768, 32767).astype(np.int16)
        return out, speech_possible

    def _frame_lag(self, x: np.ndarray, ref: np.ndarray) -> int:
        """The delay at which the reference best matches this frame alone."""
        n = len(x)
        size = 1 << int(np.ceil(np.log2(len(ref) + n)))
        corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(x, size)), size)[: self.max_lag + 1]
        norms = np.sqrt(np.maximum(np.convolve(ref[: self.max_lag + n] ** 2, np.ones(n), "valid"), 1e-12))
        return self.max_lag - int(np.argmax(corr / norms[: len(corr)]))

    def _remember(self, x: np.ndarray, position: int) -> None:
        if position != self._recent_end:
            self._recent = np.zeros(0, dtype=np.float32)
        self._recent = np.concatenate([self._recent, x])[-self._block :]
        self._recent_end = position + len(x)

    def _fit_lag(self) -> int:
        """The delay (samples) at which the reference best matches the last 200 ms of input."""
        block = self._recent
        n = len(block)
        start = self._recent_end - n
        ref = self._reference(start - self.max_lag, self._recent_end)
        if float(np.dot(ref, ref)) < 1e-6 or n < self.rate // 50:
            return self._lag or 0
        size = 1 << int(np.ceil(np.log2(len(ref) + n)))
        corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(block, size)), size)
        # corr[k] = sum block[i] * ref[i + k]; lag L means input[t] ~ ref[t - L] -> k = max_lag - L
        k = corr[: self.max_lag + 1]
        norms = np.sqrt(np.maximum(np.convolve(ref**2, np.ones(n), "valid")[: self.max_lag + 1], 1e-12))
        best = int(np.argmax(k / norms))
        lag = self.max_lag - best
        self._lag = lag
        return lag
