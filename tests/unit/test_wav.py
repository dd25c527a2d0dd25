"""Any WAV a user might hand the bench becomes 16 kHz mono int16."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_agent.audio.pcm import pcm_from_bytes
from voice_agent.audio.wav import AudioFormatError, read_wav


def sine(rate: int, seconds: float = 0.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * hz * t)


def write_int(path: Path, audio: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> None:
    data = np.repeat(audio[:, None], channels, axis=1).reshape(-1)
    ints = (data * 32767).astype("<i2") if width == 2 else (data * 127 + 128).astype(np.uint8)
    raw = ints.tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def write_float(path: Path, audio: np.ndarray, rate: int) -> None:
    payload = audio.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def dominant_hz(pcm: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(pcm))


@pytest.mark.parametrize(
    ("rate", "channels", "width"),
    [(16000, 1, 2), (8000, 1, 2), (44100, 2, 2), (22050, 1, 1), (48000, 2, 2)],
)
def test_int_wavs_are_converted(tmp_path: Path, rate: int, channels: int, width: int) -> None:
    path = tmp_path / "a.wav"
    write_int(path, sine(rate), rate, channels, width)
    pcm = read_wav(path)
    assert pcm.dtype == np.int16 and abs(len(pcm) - 8000) <= 2
    assert dominant_hz(pcm) == pytest.approx(440, abs=3)


def test_float_wav_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "f.wav"
    write_float(path, sine(44100), 44100)
    pcm = read_wav(path)
    assert abs(len(pcm) - 8000) <= 2 and dominant_hz(pcm) == pytest.approx(440, abs=3)
    assert 15000 < np.abs(pcm).max() < 17000


def test_not_a_wav_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"hello, not audio at all")
    with pytest.raises(AudioFormatError, match="x.wav"):
        read_wav(path)


def test_odd_byte_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="even number"):
        pcm_from_bytes(b"\x00\x01\x02")
