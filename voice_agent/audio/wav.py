"""Read any PCM WAV as 16 kHz mono int16; write int16 WAV."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from .pcm import SAMPLE_RATE, to_int16
from .resample import resample


class AudioFormatError(ValueError):
    """The file is not audio this project can read."""


def decode_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Decode WAV bytes (8/16/24/32-bit int or 32-bit float) -> (int16 mono, rate)."""
    import io

    try:
        with wave.open(io.BytesIO(data)) as w:
            return _read(w)
    except wave.Error as exc:
        if b"WAVE" in data[:12] and _is_float_wav(data):
            return _read_float_wav(data)
        raise AudioFormatError(f"not a readable WAV: {exc}") from exc


def read_wav(path: str | Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a WAV file as mono int16 at `rate`, converting channels, width and rate."""
    data = Path(path).read_bytes()
    try:
        pcm, src_rate = decode_wav_bytes(data)
    except AudioFormatError as exc:
        raise AudioFormatError(f"{path}: {exc}") from exc
    return resample(pcm, src_rate, rate)


def write_wav(path: str | Path, pcm: np.ndarray, rate: int) -> None:
    """Write mono int16 audio."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())


def _read(w: wave.Wave_read) -> tuple[np.ndarray, int]:
    channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
    raw = w.readframes(w.getnframes())
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
        samples = ints.astype(np.float32) / 8388608.0
    elif width == 4:
        samples = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        raise AudioFormatError(f"unsupported sample width {width}")
    return _mono(samples, channels), rate


def _mono(samples: np.ndarray, channels: int) -> np.ndarray:
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return to_int16(samples)


def _is_float_wav(data: bytes) -> bool:
    idx = data.find(b"fmt ")
    return idx >= 0 and int.from_bytes(data[idx + 8 : idx + 10], "little") in (3, 0xFFFE)


def _read_float_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Parse IEEE-float WAV, which the stdlib wave module refuses."""
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            payload = body
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise AudioFormatError("WAV without fmt or data chunk")
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if bits not in (32, 64):
        raise AudioFormatError(f"unsupported float width {bits}")
    samples = np.frombuffer(payload[: len(payload) // (bits // 8) * (bits // 8)], dtype=f"<f{bits // 8}")
    return _mono(np.clip(samples.astype(np.float32), -1.0, 1.0), channels), rate
