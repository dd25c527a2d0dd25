"""The input timeline: late and bursty arrivals do not move where samples sit in time."""

from __future__ import annotations

from voice_agent.core.inputclock import InputClock

RATE = 16000


def test_late_bursts_keep_the_earliest_timeline() -> None:
    clock = InputClock(RATE)
    assert clock.position_at(1.0, fallback=7) == 7  # nothing seen yet
    clock.observe(10.020, 320)  # on time: sample 0 was captured at 10.000
    clock.observe(10.100, 640)  # 60 ms late (a busy event loop)...
    clock.observe(10.101, 1600)  # ...then a burst catches up
    assert clock.position_at(10.5, 0) == 8000
    assert clock.start is not None and abs(clock.start - 10.0) < 1e-3


def test_a_slower_capture_clock_is_followed_within_the_drift_allowance() -> None:
    clock = InputClock(RATE, drift=1e-4)
    slow = 1.00005  # the device delivers 1 s of audio every 1.00005 s (50 ppm)
    for k in range(1, 6001):  # 120 s of 20 ms frames, each on time by the device's clock
        clock.observe(k * 0.02 * slow, k * 320)
    true_position = round(120.0 * RATE)
    assert abs(clock.position_at(120.0 * slow, 0) - true_position) <= 2


def test_an_earlier_arrival_moves_the_timeline_at_once() -> None:
    clock = InputClock(RATE)
    clock.observe(5.2, 320)  # the first frame came 230 ms late
    clock.observe(5.25, 4800)  # a burst shows the true timeline: sample 0 at 4.95
    assert clock.position_at(5.25, 0) == 4800
