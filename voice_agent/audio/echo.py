"""Self-echo suppression from the known reference: the agent hears itself, but knows what it said.

On speakers the microphone picks up the agent's own voice some tens of
milliseconds later, quieter and filtered (resamplers, a loopback's buffers, a
room). The session records what it plays, placed on the input's sample
timeline. The guard finds the coarse delay that best explains the last 200 ms
of input by the reference (a search over 0–`max_lag_ms`), and an adaptive filter
(`aec.BlockCanceller`, 30 ms of taps) placed at that delay learns the path. The
VAD sees the filter's residual: silence when only the echo came back, the
user's voice when they talk over it.

A busy machine makes the path jump: the device's buffer runs dry and plays
late, or the capture drops samples. A frame the filter no longer explains is
searched for the delay that explains it now; the filter, as learned, is tried
there and moves when two frames in a row agree. Until then the frame is judged
on every explanation the guard has (the filter, moved or not, and single
delay-and-gain fits): if any leaves a residual well below its echo estimate,
the frame is the agent's voice. All of this only once an echo shows at all
(see ECHO_RHO): with none, every frame is the user's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .aec import BlockCanceller

# A frame may count as speech only if its residual is this loud next to the echo
# the guard explained (the user's voice over the echo keeps it loud; a converged
# filter leaves 15-40 dB less than the echo, a delay-and-gain fit of a filtered
# path 3-10 dB) and louder than FLOOR (-50 dBFS, below which nothing is speech).
RESIDUAL_RATIO = 0.5
FLOOR = 10 ** (-50 / 20)
# The last 200 ms of input match the reference at the fitted delay at least this well when an echo
# is there (measured: 5th percentile 0.81 for filtered echo alone; 95th 0.36 for speech over an
# unrelated reference). Below it, and with the filter not cancelling, no frame is ruled out.
ECHO_RHO = 0.6
SEARCH_MS = 128  # how far from the filter's delay a frame that it no longer explains is searched
# How long a stall of an echo path the filter cancelled is remembered; meanwhile a frame nothing
# explains must be 3 dB (in energy: 2x) louder than the loudest echo the reference near its delay could bring.
RECALL_MS = 1000
LOST_PATH_MARGIN = 2.0

Candidate = tuple[np.ndarray, np.ndarray]  # an explanation of a frame: (residual, echo estimate)


@dataclass
class EchoStats:
    """What the guard did, for tests and the benchmark."""

    frames_with_echo: int = 0
    frames_suppressed: int = 0
    lag_ms: float | None = None
    gain_db: float | None = None
    filtered: int = 0  # frames whose residual came from the adaptive filter


class EchoGuard:
    """Keeps the played reference on the input timeline and cleans input frames."""

    def __init__(
        self, rate: int = 16000, max_lag_ms: int = 500, keep_s: float = 3.0, taps_ms: int = 30, lead_ms: int = 4
    ) -> None:
        self.rate = rate
        self.max_lag = rate * max_lag_ms // 1000
        self.keep = int(keep_s * rate)
        self._segments: list[tuple[int, np.ndarray]] = []  # (input position, float samples)
        self._open = False  # the last segment may be continued by the next piece
        # Pieces are placed by an estimate of the input's capture timeline and the player's own
        # clock, both good to some ms only (a busy machine, a device's buffer that hides a late
        # hand-over), while the player hands them over back to back. One that starts within this
        # of where the previous one ended continues it; a larger gap is the output running dry.
        self.stitch = rate * 100 // 1000
        self._lag: int | None = None
        self._block = rate // 5  # 200 ms of input to fit the delay on
        self._recent = np.zeros(0)
        self._recent_end = 0
        self.aec = BlockCanceller(rate * taps_ms // 1000, block=rate // 100)
        # The filter's tap `lead` sits at the coarse delay: the path may start a little
        # earlier than its strongest tap (a resampler's pre-ringing, a misplaced piece).
        self.lead = rate * lead_ms // 1000
        self._anchor: int | None = None  # the coarse delay the filter is placed at
        self._pending: int | None = None  # where the last frame asked the filter to move
        self._fits: list[int] = []  # the last coarse delays fitted
        self._count = 0  # frames with echo, to pace the delay search
        self._rho = 0.0  # the normalised correlation of the last 200 ms with the reference at the fitted delay
        self._good = False  # the filter cancelled at least 10 dB on the last frame
        self._echo_at: int | None = None  # input position of the last frame an echo path was seen in
        self._echo_gain = 0.0  # the delay-and-gain fit's gain on that frame
        self._stall_at: int | None = None  # input position of the last frame the echo failed to come back in
        self.recall = rate * RECALL_MS // 1000
        self.stats = EchoStats()

    # ---- the reference ----------------------------------------------------

    def add_reference(self, position: int, pcm: np.ndarray) -> None:
        """Audio (int16 at `rate`) that starts playing at input sample `position`."""
        if not len(pcm):
            return
        if self._open and self._segments:
            start, samples = self._segments[-1]
            if abs(position - (start + len(samples))) <= self.stitch:
                position = start + len(samples)
        elif not self._open:
            # A new reply: its delay is searched afresh. Fits made since the cut matched the
            # user's voice against the unplayed tail the cut kept (nothing of it echoed).
            self._forget_delay()
        self._segments.append((position, pcm.astype(np.float64) / 32768.0))
        self._open = True

    def cut_reference(self, position: int) -> None:
        """Nothing from input sample `position` on will be played (the output was cleared)."""
        kept = []
        for start, samples in self._segments:
            if start < position:
                kept.append((start, samples[: max(0, position - start)]))
        self._segments = kept
        # The next reply starts a new run of pieces, placed afresh. The learned path stays:
        # it belongs to the device, not to the reply; the delay is searched again.
        self._open = False
        self._forget_delay()

    def _forget_delay(self) -> None:
        self._fits.clear()
        self._count = 0
        self._pending = None
        self._rho = 0.0

    def _reference(self, start: int, end: int) -> np.ndarray:
        out = np.zeros(end - start)
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
        n = len(frame)
        x = frame.astype(np.float64) / 32768.0
        self._remember(x, position)
        span = self.aec.taps
        # ref[i] is the reference at input sample position - max_lag - span + i.
        ref = self._reference(position - self.max_lag - span, position + n + self.lead)
        window = ref[span : span + self.max_lag + n]  # what a delay of 0..max_lag can bring here
        if float(np.max(np.abs(window), initial=0.0)) < 1e-4 or not frame.any():
            return frame, True  # nothing played that could echo here, or a muted microphone
        self.stats.frames_with_echo += 1
        if _dropout(frame, self.rate // 500):
            # Part of the frame is digital silence: the capture or the playback ran dry (a busy
            # machine). The echo around the gap jumps; nothing is learned from it, and a frame
            # cut like that is no evidence of the user's voice either.
            self.stats.frames_suppressed += 1
            self._stall_at = position
            return frame, False
        lag = self._coarse_lag()
        gain = self._gain(x, window, lag)
        self._note_stall(x, window, position)
        if gain > 0:
            self.stats.lag_ms = 1000.0 * lag / self.rate
            self.stats.gain_db = 20 * np.log10(gain)
        if self._anchor is None and gain > 0 and len(self._fits) > 1 and abs(lag - self._fits[-2]) <= 3:
            self._anchor = lag  # a delay found twice in a row: the filter starts there, as that tap
            self.aec.reset()
            self.aec.seed(self.lead, gain)
        if self._anchor is not None and n % self.aec.block == 0:
            explained = self._cancel(x, ref, window, lag)
        else:
            # Before the filter: delay-and-gain fits at the fitted delay and at the best delay
            # for this frame alone (the block may hold too little echo yet to fit).
            fits = (self._one_tap(x, window, d) for d in {lag, self._search(x, window, 0, self.max_lag)})
            explained = sorted((c for c in fits if c is not None), key=lambda c: _energy(c[0]))
        if self._good and gain > 0:  # a filter cancelling 10 dB: that is an echo path, not a look-alike voice
            self._echo_at, self._echo_gain = position, gain
        if not explained or not (self._rho >= ECHO_RHO or self._good):
            best = min((_energy(r) for r, _ in explained), default=_energy(x))
            # Nothing takes 3 dB off the frame (over a path still there, the user's voice
            # leaves the echo's share to take) just after a stall of a path the filter cancelled.
            if best > 0.5 * _energy(x) and self._lost_path(x, window, position):
                self.stats.frames_suppressed += 1
                return frame, False
            # No echo path shows in the input (a headset, a muted speaker): fits made on one frame
            # would explain parts of the user's voice by the agent's (16 % of their loud frames, on
            # unrelated clips), so nothing is ruled out and nothing is taken away.
            return frame, True
        # The user's voice over the echo keeps the residual loud in every explanation; a leftover
        # of the agent's own voice stays well below the echo in at least one. A residual louder
        # than the input is an echo predicted but not there (the playback stalled): only the
        # input counts then, and an input well below the echo it should hold is no voice either.
        mic = _energy(x)
        speech_possible = all(
            np.sqrt(min(_energy(r), mic) / n) > max(RESIDUAL_RATIO * np.sqrt(_energy(e) / n), FLOOR)
            for r, e in explained
        )
        if not speech_possible:
            self.stats.frames_suppressed += 1
        residual = explained[0][0]
        if _energy(residual) > 2.0 * mic:  # an echo predicted but not there is not handed on
            residual = min((r for r, _ in explained), key=_energy)
            residual = residual if _energy(residual) < mic else x
        out = np.clip(np.round(residual * 32768.0), -32768, 32767).astype(np.int16)
        return out, speech_possible

    def _note_stall(self, x: np.ndarray, window: np.ndarray, position: int) -> None:
        """Remember a frame 20 dB under the echo the filter, cancelling until now, expects: the playback stalled."""
        if not self._good or self._anchor is None:
            return
        lag = self._anchor
        echo = window[self.max_lag - lag : self.max_lag - lag + len(x)]
        if _energy(x) < 0.01 * self._echo_gain**2 * _energy(echo):
            self._stall_at = position

    def _lost_path(self, x: np.ndarray, window: np.ndarray, position: int) -> bool:
        """True if an echo path was there a moment ago and this frame is no louder than its echo could be.

        A busy machine's loopback or device buffer runs dry and comes back at
        another delay: for a few hundred ms neither the filter nor a fit
        explains the input, and the correlation over the last 200 ms falls
        apart, which alone reads as "no echo here" (a headset). Seen on the
        PulseAudio speaker-to-mic loop with a core taken: the returning echo,
        as loud as the reference, went out as the user's voice and Whisper
        made "And now." of it. Within RECALL_MS of a stall (digital silence, or
        a frame 20 dB under the echo due) and of the path last cancelled, a
        frame nothing explains counts as the user's only if it is louder than
        the loudest echo the reference near the last delay could bring.
        """
        if self._echo_at is None or position - self._echo_at > self.recall:
            return False
        if self._stall_at is None or position - self._stall_at > self.recall:
            return False  # no stall: the path is where it was, and the user talks over it
        lag = self._anchor if self._anchor is not None else (self._lag or 0)
        reach = self.rate * SEARCH_MS // 1000
        lo, hi = max(0, lag - reach), min(self.max_lag, lag + reach)
        n = len(x)
        near = window[self.max_lag - hi : self.max_lag - lo + n]
        sums = np.concatenate([[0.0], np.cumsum(near * near)])
        loudest = float(np.max(sums[n:] - sums[:-n])) if len(near) >= n else _energy(near)
        return _energy(x) <= LOST_PATH_MARGIN * self._echo_gain**2 * loudest

    def _coarse_lag(self) -> int:
        """The delay fitted on the last 200 ms: every frame until the filter is placed, then every 5th.

        While the filter cancels well only delays near it are searched (half the cost).
        """
        self._count += 1
        settled = len(self._fits) > 1 and abs(self._fits[-1] - self._fits[-2]) <= 3
        if self._anchor is not None and settled and self._count % 5 != 1:
            return self._lag or 0
        lo, hi = 0, self.max_lag
        if self._good and self._anchor is not None:
            reach = self.rate * SEARCH_MS // 1000
            lo, hi = max(0, self._anchor - reach), min(self.max_lag, self._anchor + reach)
        lag = self._fit_lag(lo, hi)
        self._fits = [*self._fits[-2:], lag]
        if self._good:
            self._recenter()
        return lag

    def _cancel(self, x: np.ndarray, ref: np.ndarray, window: np.ndarray, lag: int) -> list[Candidate]:
        """Run the adaptive filter on the frame; returns the explanations of it, the one to output first."""
        assert self._anchor is not None
        start = self.max_lag - self._anchor + self.lead  # the filter's tap 0 at the anchor - lead
        residual, echo = self.aec.process(x, ref[start : start + self.aec.taps + len(x)])
        filtered = _energy(residual)
        self._good = filtered < 0.1 * _energy(x)
        out: list[Candidate] = [(residual, echo)]
        fit = self._one_tap(x, window, lag)
        if fit is not None:
            # The fit's residual goes out only while the filter is still learning and the fit is
            # 3 dB better: fitted to this very frame, it also removes a little of the user's voice.
            ahead = not self.aec.trusted and _energy(fit[0]) < 0.5 * filtered
            out.insert(0 if ahead else 1, fit)
        self.stats.filtered += int(out[0][0] is residual)
        if self._good:
            self._pending = None
            return out
        # The delay may have jumped: search this frame's residual near the filter's delay (a new
        # path explains the whole frame, one that jumped within it explains what is left).
        near = self._anchor
        reach = self.rate * SEARCH_MS // 1000
        d = self._search(residual, window, max(0, near - reach), min(self.max_lag, near + reach))
        moved = self._try_move(x, ref, d, filtered)
        if moved is not None:
            out.insert(0, (x - moved, moved))
            self._good = _energy(x - moved) < 0.1 * _energy(x)
        else:
            # Not the filter then, but maybe that delay alone (the filter is poor where it has not
            # learned yet, say a sibilant's top octave), or on top of the filter.
            rest = self._one_tap(residual, window, d)
            if rest is not None:
                out.append((rest[0], echo + rest[1]))
            alone = self._one_tap(x, window, d)
            if alone is not None:
                out.append(alone)
        return out

    def _try_move(self, x: np.ndarray, ref: np.ndarray, lag: int, residual: float) -> np.ndarray | None:
        """The filter's echo estimate with its learned peak near delay `lag`, if that explains the frame.

        The path's main tap sits elsewhere now: the device's buffer ran dry and
        played late, the reference of a new reply was placed a little
        differently, or the clocks drifted. A delay found on one frame is only
        good to a few ms, so the best placement within a block of it is taken.
        A delay found while the user talks can be anything: the estimate must
        leave 6 dB less than the filter where it is, and the filter moves
        (keeping the shape it learned) only when two frames in a row ask for the
        same place.
        """
        assert self._anchor is not None
        n, b, span = len(x), self.aec.block, self.aec.taps
        peak = int(np.argmax(np.abs(self.aec.impulse_response())))
        around = lag + self.lead - peak  # the anchor that puts the learned peak at `lag`
        # The estimates for anchors around-b .. around+b at once: for anchor around+d it is
        # wide[b - d : b - d + n].
        start = self.max_lag - around + self.lead - b
        lo, hi = max(start, 0), min(start + span + n + 2 * b, len(ref))
        if hi - lo < span:
            self._pending = None
            return None
        wide = self.aec.estimate(np.pad(ref[lo:hi], (lo - start, start + span + n + 2 * b - hi)))
        corr = np.correlate(wide, x, "valid")  # corr[j] = <x, wide[j : j + n]>
        sums = np.concatenate([[0.0], np.cumsum(wide * wide)])
        j = int(np.argmax(corr / np.sqrt(np.maximum(sums[n:] - sums[:-n], 1e-12))))
        anchor, echo = around + b - j, wide[j : j + n]
        left = _energy(x - echo)
        if abs(anchor - self._anchor) <= 3 or left >= 0.25 * residual or left >= 0.25 * _energy(x):
            self._pending = None
            return None
        if self._pending is not None and abs(anchor - self._pending) <= 3:
            self.aec.shift(self.lead - peak)  # the peak back at the lead, the margins around it restored
            self._anchor, self._pending = anchor - self.lead + peak, None
        else:
            self._pending = anchor
        return echo

    def _recenter(self) -> None:
        """Keep the learned peak at the lead (clock drift slides it along the span), if that drops little."""
        assert self._anchor is not None
        w = self.aec.impulse_response()
        by = self.lead - int(np.argmax(np.abs(w)))
        if abs(by) <= self.lead // 2:
            return
        dropped = w[:-by] if by < 0 else w[len(w) - by :]
        if _energy(dropped) < 0.01 * _energy(w):
            self.aec.shift(by)
            self._anchor -= by

    def _one_tap(self, x: np.ndarray, window: np.ndarray, lag: int) -> Candidate | None:
        """The delay-and-gain fit at `lag`: (residual, echo estimate), or None without echo there."""
        gain = self._gain(x, window, lag)
        if gain <= 0:
            return None
        echo = gain * window[self.max_lag - lag : self.max_lag - lag + len(x)]
        return x - echo, echo

    def _gain(self, x: np.ndarray, window: np.ndarray, lag: int) -> float:
        """The least-squares gain of the reference at delay `lag` for frame `x` (0 without echo there)."""
        echo = window[self.max_lag - lag : self.max_lag - lag + len(x)]
        energy = _energy(echo)
        return float(np.clip(np.dot(x, echo) / energy, 0.0, 4.0)) if energy > 1e-9 else 0.0

    # ---- the delay ----------------------------------------------------------

    def _remember(self, x: np.ndarray, position: int) -> None:
        if position != self._recent_end:
            self._recent = np.zeros(0)
        self._recent = np.concatenate([self._recent, x])[-self._block :]
        self._recent_end = position + len(x)

    def _fit_lag(self, lo: int, hi: int) -> int:
        """The delay (samples, in lo..hi) at which the reference best matches the last 200 ms of input."""
        block = self._recent
        n = len(block)
        ref = self._reference(self._recent_end - n - self.max_lag, self._recent_end)
        # Not np.dot: OpenBLAS threads a dot product this long, and waking its threads on a
        # busy machine costs milliseconds.
        if float(np.square(ref).sum()) < 1e-6 or n < self.rate // 50:
            self._rho = 0.0
            return self._lag or 0
        self._lag = self._search(block, ref, lo, hi)
        seg = ref[self.max_lag - self._lag : self.max_lag - self._lag + n]
        denom = float(np.sqrt(_energy(block) * _energy(seg)))
        self._rho = float(np.dot(block, seg)) / denom if denom > 1e-12 else 0.0
        return self._lag

    def _search(self, block: np.ndarray, window: np.ndarray, lo: int, hi: int) -> int:
        """The delay in lo..hi at which the reference best matches `block` (normalised correlation).

        `window[max_lag + t - L]` is the reference that a delay of L brings to block[t].
        """
        n = len(block)
        ref = window[self.max_lag - hi : self.max_lag - lo + n]
        size = 1 << int(np.ceil(np.log2(len(ref))))  # circular is enough: negative lags land beyond the range
        corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(block, size)), size)[: hi - lo + 1]
        # corr[k] = sum block[i] * ref[i + k], which is the delay hi - k
        sums = np.concatenate([[0.0], np.cumsum(ref * ref)])
        norms = np.sqrt(np.maximum(sums[n : n + hi - lo + 1] - sums[: hi - lo + 1], 1e-12))
        return hi - int(np.argmax(corr / norms))


def _energy(x: np.ndarray) -> float:
    return float(np.dot(x, x))


def _dropout(frame: np.ndarray, run: int) -> bool:
    """Whether `frame` (int16) holds `run` or more samples in a row within 2 LSB of zero."""
    quiet = np.abs(frame.astype(np.int32)) <= 2
    if int(quiet.sum()) < run:
        return False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    return bool(np.max(edges[1::2] - edges[::2]) >= run)
