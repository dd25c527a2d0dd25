"""A multi-tap acoustic echo canceller: partitioned-block frequency-domain NLMS (MDF).

The echo path of a real device (resamplers, a loopback's buffers, a room) is a
filter, not a delay and a gain. This one models `taps` samples of it, split in
partitions of `block` samples; each block of input is filtered by overlap-save
and the taps learn with a per-frequency normalized step (each bin is its own
NLMS, so coloured speech converges as fast as white noise would).

Two copies of the filter share the reference (the two-path scheme): the
background one learns, the foreground one produces the output and takes the
background's taps only once they have cancelled more for several blocks in a
row. The user talking over the echo derails learning; with two paths that never
reaches the output, and the background is put back from the foreground when it
has clearly gone astray. Learning also slows eightfold while a trusted
foreground's residual is within 6 dB of its echo estimate (double talk: an
energy-ratio detector on the estimate), and stops where the reference is silent
(nothing to learn from, nothing to diverge on).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SILENT_REF = 1e-6  # mean square of the reference window (-60 dBFS) below which nothing is learned
TALK_LIMIT = 100  # blocks (1 s at 10 ms) of "double talk" after which the path is taken to have changed


class BlockCanceller:
    """Cancels the echo of an aligned reference from the input, block by block."""

    def __init__(self, taps: int = 480, block: int = 160, step: float = 0.8, talk_step: float = 0.1) -> None:
        self.block = block
        self.parts = -(-taps // block)
        self.taps = self.parts * block
        self.step = step  # per-bin NLMS step while only the echo comes in (stable below 2)
        self.talk_step = talk_step  # the step while the input looks like double talk
        self.reset()

    def reset(self) -> None:
        """Forget the echo path."""
        shape = (self.parts, self.block + 1)
        self._fg = np.zeros(shape, dtype=np.complex128)  # foreground: makes the output
        self._bg = np.zeros(shape, dtype=np.complex128)  # background: learns
        self._power = np.zeros(self.block + 1)  # smoothed reference power per bin
        self._better = 0  # blocks in a row where the background beat the foreground
        self._worse = 0  # blocks in a row where the background was far worse
        self._sum_d = self._sum_fg = 0.0  # smoothed input and foreground residual energies
        self._seen = 0  # blocks that went into them
        self.trusted = False  # the foreground cancels at least 10 dB of the echo
        self._talk = 0  # blocks in a row judged double talk

    def seed(self, tap: int, gain: float) -> None:
        """Start both filters from a single tap (the coarse delay-and-gain fit)."""
        w = np.zeros(self.taps)
        w[tap] = gain
        self._fg = self._to_freq(w)
        self._bg = self._fg.copy()

    def impulse_response(self) -> np.ndarray:
        """The foreground filter's taps (time domain)."""
        return self._to_time(self._fg)

    def shift(self, by: int) -> None:
        """Move the learned taps `by` samples later in the span (earlier if negative), zero-filled."""
        for name in ("_fg", "_bg"):
            w = self._to_time(getattr(self, name))
            moved = np.zeros_like(w)
            if by >= 0:
                moved[by:] = w[: len(w) - by]
            else:
                moved[:by] = w[-by:]
            setattr(self, name, self._to_freq(moved))

    def process(self, mic: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cancel the echo in `mic` (float, whole blocks) and learn from it.

        `ref` is the aligned reference for the same samples preceded by `taps`
        samples of history (len(ref) == taps + len(mic)); tap k of the filter
        weighs ref[taps + n - k] for input sample n. Returns the residual and
        the echo estimate (both float, len(mic)).
        """
        b = self.block
        spectra = self._spectra(ref, len(mic))
        residual = np.empty_like(mic)
        echo = np.empty_like(mic)
        for j in range(len(mic) // b):
            x = spectra[j : j + self.parts][::-1]  # partition 0 = the most recent reference
            d = mic[j * b : (j + 1) * b]
            y_fg = np.fft.irfft((self._fg * x).sum(axis=0), 2 * b)[b:]
            y_bg = np.fft.irfft((self._bg * x).sum(axis=0), 2 * b)[b:]
            e_fg, e_bg = d - y_fg, d - y_bg
            residual[j * b : (j + 1) * b] = e_fg
            echo[j * b : (j + 1) * b] = y_fg
            self._learn(x, ref[j * b + self.taps - b : (j + 1) * b + self.taps], d, y_fg, e_fg, e_bg)
        return residual, echo

    def estimate(self, ref: np.ndarray) -> np.ndarray:
        """The foreground's echo estimate for `ref` (laid out as for `process`), learning nothing."""
        b, count = self.block, len(ref) - self.taps
        spectra = self._spectra(ref, count)
        out = [
            np.fft.irfft((self._fg * spectra[j : j + self.parts][::-1]).sum(axis=0), 2 * b)[b:]
            for j in range(count // b)
        ]
        return np.concatenate(out)

    def _spectra(self, ref: np.ndarray, count: int) -> np.ndarray:
        """Every 2-block window of the reference, once: window q serves block j's partition (parts + j - 1 - q)."""
        b = self.block
        assert count % b == 0 and len(ref) == self.taps + count
        return np.fft.rfft(sliding_window_view(ref, 2 * b)[::b][: self.parts + count // b - 1], axis=1)

    def _learn(
        self, x: np.ndarray, recent: np.ndarray, d: np.ndarray, y_fg: np.ndarray, e_fg: np.ndarray, e_bg: np.ndarray
    ) -> None:
        b = self.block
        if float(np.dot(recent, recent)) < SILENT_REF * len(recent):
            return  # no reference, no echo to learn from: the taps keep what they know
        power_fg, power_bg = float(np.dot(e_fg, e_fg)), float(np.dot(e_bg, e_bg))
        power_d, power_y = float(np.dot(d, d)), float(np.dot(y_fg, y_fg))
        # Double talk (an energy-ratio test): a trusted foreground leaves 10 dB or more below
        # the echo it explains, so a residual within 6 dB of that echo is the user's voice.
        # A long run of it is a changed path instead.
        talking = self.trusted and power_fg > 0.25 * power_y
        self._talk = self._talk + 1 if talking else 0
        if self._talk > TALK_LIMIT:
            self.trusted, self._talk = False, 0
        if not talking:  # how much the foreground cancels, over ~10 blocks of echo alone
            self._sum_d = 0.9 * self._sum_d + power_d
            self._sum_fg = 0.9 * self._sum_fg + power_fg
            self._seen += 1
            # Trusted from 10 dB on; no longer below 3 dB (hysteresis: stray near-end sound is no reason).
            self.trusted = self._seen >= 10 and self._sum_fg < (0.5 if self.trusted else 0.1) * self._sum_d
        step = self.talk_step if talking else self.step
        self._power = 0.5 * self._power + 0.5 * (np.abs(x) ** 2).sum(axis=0)
        floor = 1e-2 * float(self._power.mean()) + 1e-9 * 2 * b
        err = np.fft.rfft(np.concatenate([np.zeros(b), e_bg]))
        grad = np.fft.irfft(np.conj(x) * (err * (step / (self._power + floor))), 2 * b, axis=1)
        grad[:, b:] = 0.0  # the gradient constraint: taps beyond a partition's block stay zero
        self._bg += np.fft.rfft(grad, axis=1)
        # Two paths: the foreground takes the background's taps once they have cancelled more,
        # and at least 3 dB of the input (the user's voice is not cancelled), for 3 blocks in a
        # row; the background is put back from the foreground when it has clearly gone astray
        # for 8 (it learned the user's voice).
        self._better = self._better + 1 if power_bg < 0.7 * power_fg and power_bg < 0.5 * power_d else 0
        self._worse = self._worse + 1 if power_bg > 4.0 * power_fg else 0
        if self._better >= 3:
            self._fg = self._bg.copy()
            self._better = 0
        elif self._worse >= 8:
            self._bg = self._fg.copy()
            self._worse = 0

    def _to_freq(self, w: np.ndarray) -> np.ndarray:
        parts = w.reshape(self.parts, self.block)
        return np.fft.rfft(np.concatenate([parts, np.zeros_like(parts)], axis=1), axis=1)

    def _to_time(self, spectra: np.ndarray) -> np.ndarray:
        return np.fft.irfft(spectra, 2 * self.block, axis=1)[:, : self.block].reshape(-1)
