"""Self-echo suppression on real speech: echo alone is silenced, a voice over it is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_agent.audio.echo import EchoGuard
from voice_agent.audio.wav import read_wav

CLIPS = Path(__file__).resolve().parent.parent / "data" / "clips"


def run(guard: EchoGuard, mic: np.ndarray) -> list[bool]:
    return [guard.process(mic[i : i + 320], i)[1] for i in range(0, len(mic) - 319, 320)]


@pytest.mark.parametrize(("delay_ms", "gain_db"), [(30, -6), (80, -12), (120, -20)])
def test_echo_alone_is_suppressed(delay_ms: int, gain_db: float) -> None:
    agent = read_wav(CLIPS / "clean_librivox_sense_and_sensibility_0880.wav")
    guard = EchoGuard()
    guard.add_reference(0, agent)
    d = 16 * delay_ms
    mic = np.zeros(len(agent) + d, dtype=np.int16)
    mic[d:] = (agent * 10 ** (gain_db / 20)).astype(np.int16)
    verdicts = run(guard, mic)
    loud = [i for i in range(len(verdicts)) if np.abs(mic[i * 320 : i * 320 + 320]).max() > 300]
    passed = sum(verdicts[i] for i in loud)
    assert passed <= 0.03 * len(loud), f"{passed}/{len(loud)} echo frames would reach the VAD"
    assert guard.stats.lag_ms == pytest.approx(delay_ms, abs=2)


def test_user_speech_over_echo_gets_through() -> None:
    agent = read_wav(CLIPS / "clean_librivox_sense_and_sensibility_0880.wav")
    user = read_wav(CLIPS / "clean_cmu_goforward.wav")
    guard = EchoGuard()
    guard.add_reference(0, agent)
    n = min(len(agent), len(user))
    mic = np.zeros(n, dtype=np.int16)
    mic[800:] = (agent[: n - 800] * 0.25).astype(np.int16)  # 50 ms, -12 dB
    mic = np.clip(mic.astype(np.int32) + user[:n], -32768, 32767).astype(np.int16)
    verdicts = run(guard, mic)
    talking = [i for i in range(len(verdicts)) if np.abs(user[i * 320 : i * 320 + 320]).max() > 3000]
    assert sum(verdicts[i] for i in talking) >= 0.8 * len(talking)


def test_no_reference_means_no_change() -> None:
    guard = EchoGuard()
    frame = (np.random.default_rng(0).standard_normal(320) * 3000).astype(np.int16)
    out, speech = guard.process(frame, 0)
    assert speech and np.array_equal(out, frame)


def test_cut_reference_forgets_unplayed_audio() -> None:
    guard = EchoGuard()
    guard.add_reference(0, np.full(1600, 5000, dtype=np.int16))
    guard.cut_reference(800)
    frame = np.zeros(320, dtype=np.int16)
    assert guard.process(frame, 1200)[0] is frame  # nothing was played there
