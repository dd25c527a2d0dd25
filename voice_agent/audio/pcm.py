"""16-bit PCM helpers: conversions, framing and levels."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

SAMPLE_RATE = 16000  # the pipeline's input rate
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000


def to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 in [-1, 1)."""
    return pcm.astype(np.float32) / 32768.0


def to_int16(audio: np.ndarray) -> np.ndarray:
    """float samples in [-1, 1] -> int16, clipped."""
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


def pcm_from_bytes(data: bytes) -> np.ndarray:
    """Little-endian 16-bit PCM bytes -> int16 array; odd lengths are an error."""
    if len(data) % 2:
        raise ValueError(f"16-bit PCM needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def frames(pcm: np.ndarray, size: int = FRAME_SAMPLES) -> Iterator[np.ndarray]:
    """Split into frames of `size` samples, zero-padding the last one."""
    for start in range(0, len(pcm), size):
        frame = pcm[start : start + size]
        if len(frame) < size:
            frame = np.concatenate([frame, np.zeros(size - len(frame), dtype=pcm.dtype)])
        yield frame


def silence(ms: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """`ms` milliseconds of int16 silence."""
    return np.zeros(int(rate * ms / 1000), dtype=np.int16)


def rms_dbfs(pcm: np.ndarray) -> float:
    """RMS level of int16 audio in dBFS (-inf for digital silence)."""
    if len(pcm) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(to_float(pcm).astype(np.float64) ** 2)))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def loud_windows(pcm: np.ndarray, rate: int, within_db: float) -> tuple[np.ndarray, int]:
    """Indices of the 10 ms windows whose RMS is within `within_db` of the loudest (none in
    digital silence), and the window's length in samples."""
    hop = max(1, rate // 100)
    n = len(pcm) // hop
    if n == 0:
        return np.zeros(0, dtype=np.intp), hop
    rms = np.sqrt(np.mean(pcm[: n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 0:
        return np.zeros(0, dtype=np.intp), hop
    return np.nonzero(rms >= peak * 10 ** (-within_db / 20.0))[0], hop


def voiced_span(pcm: np.ndarray, rate: int, floor_db: float = 40.0) -> tuple[int, int]:
    """The samples from the first to the last 10 ms window within `floor_db` of the loudest (all if none)."""
    loud, hop = loud_windows(pcm, rate, floor_db)
    if len(loud) == 0:
        return 0, len(pcm)
    return int(loud[0] * hop), int((loud[-1] + 1) * hop)


def trim_silence(pcm: np.ndarray, rate: int, lead_ms: int | None = None, tail_ms: int | None = None) -> np.ndarray:
    """`pcm` with at most `lead_ms` of silence before its voiced span and `tail_ms` after (None: as is)."""
    start, end = trim_bounds(pcm, rate, lead_ms, tail_ms)
    return pcm[start:end]


def trim_bounds(pcm: np.ndarray, rate: int, lead_ms: int | None = None, tail_ms: int | None = None) -> tuple[int, int]:
    """The (start, end) samples that `trim_silence` keeps."""
    if lead_ms is None and tail_ms is None:
        return 0, len(pcm)  # most clauses: nothing to find
    start, end = voiced_span(pcm, rate)
    start = max(0, start - rate * lead_ms // 1000) if lead_ms is not None else 0
    end = min(len(pcm), end + rate * tail_ms // 1000) if tail_ms is not None else len(pcm)
    return start, end
