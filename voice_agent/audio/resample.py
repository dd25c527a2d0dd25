"""Sample-rate conversion with soxr: one-shot and streaming."""

from __future__ import annotations

import numpy as np
import soxr


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample a whole signal (int16 in -> int16 out, float in -> float out)."""
    if src_rate == dst_rate:
        return audio
    out = soxr.resample(audio, src_rate, dst_rate, quality="HQ")
    return np.asarray(out, dtype=audio.dtype)


class StreamResampler:
    """Resamples a stream chunk by chunk with filter state carried across chunks.

    A stateless per-chunk resample clicks at every chunk edge; this does not.
    Call flush() at the end of a stream (a turn boundary) to get the tail.
    """

    def __init__(self, src_rate: int, dst_rate: int, quality: str = "HQ") -> None:
        # Fed 20 ms chunks, HQ holds back 16-100 ms of output; "QQ" holds back
        # nothing, which matters where latency does (a call's inbound audio).
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self.quality = quality
        self._stream = self._new()

    def _new(self) -> soxr.ResampleStream | None:
        if self.src_rate == self.dst_rate:
            return None
        return soxr.ResampleStream(self.src_rate, self.dst_rate, 1, dtype="int16", quality=self.quality)

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """Resample the next int16 chunk."""
        if self._stream is None:
            return pcm
        return self._stream.resample_chunk(pcm.astype(np.int16))

    def flush(self) -> np.ndarray:
        """Return the remaining samples and reset for the next stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self._stream = self._new()
        return tail
