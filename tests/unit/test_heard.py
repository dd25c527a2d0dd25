"""What the listener heard: words placed on a clause's voiced span, not its silences."""

from __future__ import annotations

import numpy as np

from voice_agent.audio.pcm import trim_silence, voiced_span
from voice_agent.core.chunker import ends_mid_sentence
from voice_agent.core.heard import Track


def test_words_are_placed_on_the_voiced_span_of_a_clause() -> None:
    track = Track()
    # 10 weights ("young" 6, "man" 4) over the voiced 100..1200: "man." runs 760..1200, its middle 980
    track.add("young man.", 2000, voiced=(100, 1200))
    assert track.heard_text(970) == "young"
    assert track.heard_text(990) == "young man."  # spread over all 2000 samples its middle would be 1600
    assert track.text_between(1300, 1900) == ""  # the trailing silence carries no word
    track.add("Hi.", 500)  # no span given: the whole clause
    assert track.spoken[-1] == (2000, 2500)
    assert track.heard_text(2000) == "young man."


def test_a_comma_inside_a_clause_takes_time_of_its_own() -> None:
    track = Track()
    # "Sure," 5 + a 6-letter pause + "I" 2 + "can" 4 = 17 weights over 0..1700: "I" runs 1100..1300
    track.add("Sure, I can", 1700)
    assert track.heard_text(1150) == "Sure,"  # without the pause "I" would run 600..800
    assert track.heard_text(1250) == "Sure, I"
    assert track.text_between(600, 1000) == ""  # the pause is nobody's word


def test_the_voiced_span_skips_leading_and_trailing_silence() -> None:
    rate = 1000
    t = np.arange(500) / rate
    voice = (8000 * np.sin(2 * np.pi * 100 * t)).astype(np.int16)
    pcm = np.concatenate([np.zeros(50, np.int16), voice, np.full(200, 3, np.int16)])
    assert voiced_span(pcm, rate) == (50, 550)
    assert voiced_span(np.zeros(300, np.int16), rate) == (0, 300)  # nothing voiced: all of it
    assert voiced_span(np.zeros(3, np.int16), rate) == (0, 3)


def test_a_clause_keeps_only_the_silence_asked_for() -> None:
    rate = 1000
    voice = (8000 * np.sin(2 * np.pi * 100 * np.arange(500) / rate)).astype(np.int16)
    pcm = np.concatenate([np.zeros(50, np.int16), voice, np.zeros(200, np.int16)])
    assert len(trim_silence(pcm, rate)) == 750  # nothing asked: as it was
    first = trim_silence(pcm, rate, lead_ms=10)
    assert len(first) == 710 and np.flatnonzero(first)[0] in (10, 11)  # 10 ms before the voice (a sine starts at 0)
    cut = trim_silence(pcm, rate, tail_ms=40)
    assert len(cut) == 590 and not cut[-40:].any()
    assert len(trim_silence(np.zeros(300, np.int16), rate, lead_ms=10, tail_ms=40)) == 300  # no voice: all of it


def test_a_clause_cut_between_words_is_mid_sentence() -> None:
    assert ends_mid_sentence("He might have been made amiable")
    assert (
        not ends_mid_sentence("I'm sorry,")
        and not ends_mid_sentence("Is it?")
        and not ends_mid_sentence('He said "hi."')
    )
