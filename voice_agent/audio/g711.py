"""G.711 µ-law and A-law in numpy: 256-entry decode and 65,536-entry encode tables.

The tables reproduce CPython's old `audioop` module bit for bit (lin2ulaw,
ulaw2lin, lin2alaw, alaw2lin on 16-bit samples); `audioop` itself is gone in
Python 3.13. Encoding indexes the table with the int16 sample viewed as uint16.
"""

from __future__ import annotations

import numpy as np

ULAW_SILENCE = 0xFF  # the µ-law byte that decodes to 0
ALAW_SILENCE = 0xD5  # decodes to +8, the A-law code closest to 0


def _segment(magnitude: np.ndarray, ends: list[int]) -> np.ndarray:
    """Index of the first segment end >= magnitude (len(ends) when above all)."""
    return np.searchsorted(np.asarray(ends), magnitude, side="left")


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32) >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + 33  # clip, then add the bias (0x84 >> 2)
    seg = _segment(mag, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    quant = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | quant)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


ULAW_DECODE = _ulaw_decode_table()
ULAW_ENCODE = _ulaw_encode_table()
ALAW_DECODE = _alaw_decode_table()
ALAW_ENCODE = _alaw_encode_table()


def _as_uint16(pcm: np.ndarray) -> np.ndarray:
    return np.asarray(pcm, dtype=np.int16).view(np.uint16)


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> µ-law bytes."""
    return ULAW_ENCODE[_as_uint16(pcm)].tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """µ-law bytes -> int16 samples."""
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> A-law bytes."""
    return ALAW_ENCODE[_as_uint16(pcm)].tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes -> int16 samples."""
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
