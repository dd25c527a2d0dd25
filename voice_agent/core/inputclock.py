"""Where the input stream's samples sit in time, from when they arrive.

Audio arrives in bursts and late (an event loop's lag, a network, a device's
buffer), never early. So the best estimate of when input sample 0 was
captured is the earliest `arrival - position / rate` seen; the audio played
at time T then meets input sample `(T - start) * rate`. The estimate may
creep later by `drift` seconds per second, so a capture clock slightly
slower than ours is followed too. Pure: times are passed in.
"""

from __future__ import annotations


class InputClock:
    """Maps times to input sample positions, from (arrival time, samples so far) observations."""

    def __init__(self, rate: int, drift: float = 1e-4) -> None:
        self.rate = rate
        self.drift = drift  # how fast (s/s) the start estimate may move later
        self.start: float | None = None  # estimated capture time of input sample 0
        self._last_t: float | None = None

    def observe(self, arrived_at: float, samples: int) -> None:
        """`samples` samples of input have arrived by `arrived_at`."""
        candidate = arrived_at - samples / self.rate
        if self.start is None or self._last_t is None:
            self.start = candidate
        else:
            creep = max(0.0, arrived_at - self._last_t) * self.drift
            self.start = min(self.start + creep, candidate)
        self._last_t = arrived_at

    def position_at(self, t: float, fallback: int) -> int:
        """The input sample captured at time `t` (`fallback` before any observation)."""
        if self.start is None:
            return fallback
        return round((t - self.start) * self.rate)
