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


def voiced_span(pcm: np.ndarray, rate: int, floor_db: float = 40.0) -> tuple[int, int]:
    """The samples from the first to the last 10 ms window within `floor_db` of the loudest one."""
    win = max(1, rate // 100)
    n = len(pcm) // win
    if n == 0:
        return 0, len(pcm)
    energy = np.mean(pcm[: n * win].astype(np.float64).reshape(n, win) ** 2, axis=1)
    loud = np.nonzero(energy > energy.max() * 10 ** (-floor_db / 10))[0]
    if len(loud) == 0:
        return 0, len(pcm)
    return int(loud[0] * win), int(min(len(pcm), (loud[-1] + 1) * win))
