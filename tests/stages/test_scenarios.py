"""Bench scenarios on fake models in real time: the echo path end to end, and what counts as a stop."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import FakeAsr, FakeLlm, fake_models, quiet, tone
from voice_agent.audio.wav import write_wav
from voice_agent.bench.runner import Clip
from voice_agent.bench.scenarios import backchannel_trial, echo_trial
from voice_agent.config import SessionConfig


@pytest.fixture
def clip(tmp_path: Path) -> Clip:
    path = tmp_path / "ask.wav"
    write_wav(path, np.concatenate([tone(1200), quiet(100)]), 16000)
    return Clip("tone", path, "hello there")


LONG_REPLY = " ".join(["Well, that is a fine question and I will answer it at some length."] * 3)


@pytest.mark.parametrize("guard", [True, False])
async def test_the_agents_own_echo_interrupts_it_only_without_the_guard(clip: Clip, guard: bool) -> None:
    models = fake_models()
    row = await echo_trial(models, SessionConfig(echo_guard=guard), clip, 60, -6.0, time.monotonic, max_s=8.0)
    assert row["reply_s"] > 0.3
    if guard:
        assert row["self_interruptions"] == 0, row
    else:
        assert row["self_interruptions"] >= 1, row


async def test_a_cough_over_the_answer_is_a_pause_not_a_stop(clip: Clip, tmp_path: Path) -> None:
    cough = tmp_path / "cough.wav"
    write_wav(cough, tone(250, hz=180.0), 16000)
    asr = FakeAsr(text=lambda n: "hello there." if n > 16000 * 0.9 else "")  # no words in a short sound
    models = fake_models(asr=asr, llm=FakeLlm(reply=LONG_REPLY))
    row = await backchannel_trial(models, SessionConfig(), clip, cough, 0.3, time.monotonic)
    assert "skipped" not in row, row
    assert row["paused"] >= 1 and row["resumed"] >= 1 and not row["stopped"], row
