"""Benchmark plumbing: true onset/end, pause insertion, the simulated listener."""

from __future__ import annotations

import asyncio

import numpy as np

from tests.fakes import quiet, tone
from voice_agent.bench.cutpoint import heard_prefix, words_off
from voice_agent.bench.listener import SimulatedListener
from voice_agent.bench.runner import true_speech_end
from voice_agent.bench.scenarios import split_with_pause, true_onset


def test_true_onset_and_end() -> None:
    pcm = np.concatenate([quiet(300), tone(500), quiet(200), tone(400, amp=0.02), quiet(300)])
    assert true_onset(pcm) == 4800
    # the quiet tail (-24 dB) is within 35 dB of the peak, so it counts as speech
    assert true_speech_end(pcm) == 16 * (300 + 500 + 200 + 400)


def test_pause_goes_into_the_quietest_spot_of_the_middle() -> None:
    pcm = np.concatenate([tone(600), quiet(60), tone(600)])
    out, a, b = split_with_pause(pcm, 500)
    assert b - a == 8000 and len(out) == len(pcm) + 8000
    assert 16 * 600 <= a <= 16 * 660
    assert np.abs(out[a:b]).max() == 0


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_listener_plays_back_to_back_and_clear_drops_the_rest() -> None:
    clock = Clock()
    lis = SimulatedListener(clock, rate=16000)
    asyncio.run(lis.send_audio(1, tone(100)))
    asyncio.run(lis.send_audio(1, tone(100)))
    assert lis.playout_end == 0.2
    clock.t = 0.15
    asyncio.run(lis.send_event({"type": "clear", "turn": 1}))
    assert abs(lis.last_heard(1) - 0.15) < 1e-3 and abs(len(lis.heard_audio(1)) - 2400) <= 1
    assert not lis.playing(0.16)


def test_listener_echo_is_the_playout_delayed_and_scaled() -> None:
    clock = Clock()
    lis = SimulatedListener(clock, rate=16000)
    asyncio.run(lis.send_audio(1, np.full(1600, 1000, dtype=np.int16)))  # plays 0.0-0.1 s
    echo = lis.echo(0.0, 3200, delay_s=0.05, gain=0.5)
    assert np.allclose(echo[:800], 0) and np.allclose(echo[800:2400], 500, atol=30) and np.allclose(echo[2500:], 0)


def _w(text: str) -> list[str]:
    return text.split()


def test_the_cut_ruler_ignores_words_whisper_made_up_past_the_cut() -> None:
    reply = _w("the cut on his chest was deep and he went to make a fire")
    assert heard_prefix(reply, _w("the cut on his chest")) == 5
    assert heard_prefix(reply, _w("the cut on his chest make a cut")) == 5  # an invented ending
    assert heard_prefix(reply, _w("the cut on his chess was")) == 6  # one word misheard
    assert heard_prefix(reply, _w("the cut his chest was deep")) == 7  # one word missed
    assert heard_prefix(reply, []) == 0
    # a bench run: Whisper on "He began a confused complaint" cut after "complaint"
    said = _w("he began a confused complaint against the wizard")
    assert heard_prefix(said, _w("he began to confuse complaining")) == 5
    said = _w("im sorry i couldnt help but mention the fact that he might")
    assert heard_prefix(said, _w("im sorry i couldnt help but mention that")) in (7, 8)  # not 10
    assert words_off("In 1813, the war", "In 1813, the war was over.", "in eighteen thirteen the") == (3, 1)
