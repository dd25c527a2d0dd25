"""VAD hysteresis counted in samples: no clock, no audio needed."""

from __future__ import annotations

from voice_agent.core.vadgate import GateChange, GateConfig, VadGate

RATE = 16000
FRAME = 320  # 20 ms


def feed(gate: VadGate, pattern: str) -> list[GateChange]:
    """'#' = voiced 20 ms frame, '.' = unvoiced; return real (non-blip) changes."""
    changes = [gate.push(FRAME, ch == "#") for ch in pattern]
    return [c for c in changes if c is not None and not c.blip]


def test_single_click_is_not_speech() -> None:
    gate = VadGate(RATE, GateConfig(start_ms=120, start_window_ms=200, end_ms=180))
    assert feed(gate, ".....#.....#.....") == []
    assert not gate.speaking


def test_speech_starts_at_first_voiced_frame_of_window() -> None:
    gate = VadGate(RATE, GateConfig(start_ms=120, start_window_ms=200, end_ms=180))
    changes = feed(gate, "...##.####")
    assert changes == [GateChange(True, 3 * FRAME)]


def test_short_gap_inside_speech_does_not_end_it() -> None:
    gate = VadGate(RATE, GateConfig(start_ms=60, start_window_ms=100, end_ms=180))
    changes = feed(gate, "#####" + "........" + "#####")  # 160 ms gap < 180 ms
    assert changes == [GateChange(True, 0)]


def test_silence_end_reports_where_silence_began() -> None:
    gate = VadGate(RATE, GateConfig(start_ms=60, start_window_ms=100, end_ms=180))
    changes = feed(gate, "######" + "." * 9)
    assert changes == [GateChange(True, 0), GateChange(False, 6 * FRAME)]
    assert gate.last_voiced_end == 6 * FRAME and gate.unvoiced_run == 9 * FRAME


def test_blips_reported_while_closed() -> None:
    gate = VadGate(RATE, GateConfig(start_ms=120, start_window_ms=200, end_ms=180))
    change = gate.push(FRAME, True)
    assert change == GateChange(False, FRAME, blip=True)


def test_works_at_other_frame_sizes() -> None:
    gate = VadGate(RATE, GateConfig(start_ms=90, start_window_ms=90, end_ms=90))
    changes = [gate.push(480, v) for v in (True, True, True, False, False, False)]  # 30 ms frames
    real = [c for c in changes if c is not None and not c.blip]
    assert real == [GateChange(True, 0), GateChange(False, 3 * 480)]
