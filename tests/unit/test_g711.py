"""G.711 tables against CPython's audioop (known values, and whole-table digests taken from it)."""

from __future__ import annotations

import hashlib
import importlib
import warnings

import numpy as np
import pytest

from voice_agent.audio import g711

# Samples and codes from CPython's Lib/test/test_audioop.py (16-bit).
SAMPLES = np.array([0, 0x1234, 0x4567, -0x4567, 0x7FFF, -0x8000, -1], dtype=np.int16)
ULAW_CODES = bytes.fromhex("ffad8e0e80007e")
ALAW_CODES = bytes.fromhex("d587a424aa2a55")
ULAW_KNOWN = bytes.fromhex("000e283f576a767c7e7f808ea8bfd7eaf6fcfeff")
ULAW_LIN = [-8031, -4447, -1471, -495, -163, -53, -18, -6, -2, 0, 8031, 4447, 1471, 495, 163, 53, 18, 6, 2, 0]
ALAW_KNOWN = bytes.fromhex("0003242a515455586b717f8083a4aad1d4d5d8ebf1ff")
ALAW_LIN = [-688, -720, -2240, -4032, -9, -3, -1, -27, -244, -82, -106, 688, 720, 2240, 4032, 9, 3, 1, 27, 244, 82, 106]

# sha256 of each table (little-endian), equal to the tables audioop's functions produce.
DIGESTS = {
    "ULAW_ENCODE": "617fa4850d68d3906597e949f7625fb2fc46db479e29707f33159b3d131721cb",
    "ULAW_DECODE": "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827",
    "ALAW_ENCODE": "f77c76aa923ee25617453f87514828a12896227f82ff383bf3bb53d6ac7c2a0f",
    "ALAW_DECODE": "e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174",
}


def test_known_encodings() -> None:
    assert g711.ulaw_encode(SAMPLES) == ULAW_CODES
    assert g711.alaw_encode(SAMPLES) == ALAW_CODES


def test_known_decodings() -> None:
    assert g711.ulaw_decode(ULAW_KNOWN).tolist() == [x * 4 for x in ULAW_LIN]
    assert g711.alaw_decode(ALAW_KNOWN).tolist() == [x * 8 for x in ALAW_LIN]


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_whole_tables(name: str) -> None:
    table = getattr(g711, name)
    assert len(table) == (65536 if name.endswith("ENCODE") else 256)
    assert hashlib.sha256(table.astype(table.dtype.newbyteorder("<")).tobytes()).hexdigest() == DIGESTS[name]


def test_against_audioop_when_present() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            audioop = importlib.import_module("audioop")
        except ModuleNotFoundError:
            pytest.skip("audioop is gone (Python 3.13+): the digests above stand in for it")
    pcm = np.arange(-32768, 32768, dtype=np.int16)
    codes = bytes(range(256))
    assert g711.ulaw_encode(pcm) == audioop.lin2ulaw(pcm.tobytes(), 2)
    assert g711.alaw_encode(pcm) == audioop.lin2alaw(pcm.tobytes(), 2)
    assert g711.ulaw_decode(codes).astype("<i2").tobytes() == audioop.ulaw2lin(codes, 2)
    assert g711.alaw_decode(codes).astype("<i2").tobytes() == audioop.alaw2lin(codes, 2)


def test_round_trip_is_close_and_silence_is_silent() -> None:
    t = np.arange(8000) / 8000
    pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    back = g711.ulaw_decode(g711.ulaw_encode(pcm)).astype(np.float64)
    snr = 10 * np.log10(np.sum(pcm.astype(np.float64) ** 2) / np.sum((back - pcm) ** 2))
    assert snr > 30  # G.711 gives about 38 dB on a sine at this level
    assert g711.ulaw_decode(bytes([g711.ULAW_SILENCE])).tolist() == [0]
    assert g711.ulaw_encode(np.zeros(3, dtype=np.int16)) == bytes([g711.ULAW_SILENCE] * 3)
