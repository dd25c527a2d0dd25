"""Endpoint policy: how much silence ends a turn, from the words, p_end and the voice's p_done."""

from __future__ import annotations

import pytest

from voice_agent.core.policy import EndpointPolicy, completeness

P = EndpointPolicy(complete_ms=450, unknown_ms=600, incomplete_ms=1100, p_end_low=0.01, voice_done=0.8)


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("What time is it?", True),
        ("Go forward ten meters.", True),
        ("I want to", False),
        ("So I was thinking,", False),
        ("and then um", False),
        ("Let me see...", False),
        ("five five", None),
        ("", None),
        (None, None),
    ],
)
def test_completeness_cues(text: str | None, cue: bool | None) -> None:
    assert completeness(text) is cue


@pytest.mark.parametrize(
    ("text", "p_end", "ms"),
    [
        ("What time is it?", None, 450),
        ("What time is it?", 0.2, 450),
        ("1.", 0.0, 600),  # punctuated, but the LLM expects more ("one, two, three")
        ("And so my fellow Americans ask not", 0.0, 1100),
        ("ten of clubs", 0.05, 600),
        ("ten of clubs", None, 600),
        ("I'd like to book a table for", 0.9, 1100),  # a dangling preposition wins
        (None, None, 600),
    ],
)
def test_silence_needed(text: str | None, p_end: float | None, ms: float) -> None:
    assert P.silence_needed_ms(text, p_end) == ms


@pytest.mark.parametrize(
    ("text", "p_end", "p_done", "ms"),
    [
        ("7 of clubs", 2e-6, 0.99, 450),  # no full stop, p_end ~0: the voice says the list is over
        ("7 of clubs", 2e-6, 0.5, 1100),  # the voice is unsure: the words decide
        ("1.", 5e-6, 0.9, 450),
        ("ten of clubs", 0.05, 0.8, 450),  # exactly the threshold
        ("ten of clubs", 0.05, 0.79, 600),
        ("10 of", 2e-7, 0.98, 1100),  # the voice cannot hear grammar: a dangling "of" still waits
        ("In 1813,", 1e-6, 0.99, 1100),
        ("The horizon seems to be", 7e-11, 0.93, 1100),  # the LLM all but rules the end out
        ("7 of clubs", None, 0.99, 450),  # no LLM score: the voice settles it
        ("What time is it?", 0.2, 0.01, 450),  # the voice never lengthens a wait
        ("7 of clubs", 2e-6, None, 1100),
    ],
)
def test_the_voice_only_settles_a_doubt_the_words_left(
    text: str, p_end: float | None, p_done: float | None, ms: float
) -> None:
    assert P.silence_needed_ms(text, p_end, p_done) == ms


@pytest.mark.parametrize(
    ("text", "p_end", "worth_asking"),
    [
        ("7 of clubs", 2e-6, True),
        ("1.", 5e-6, True),
        ("What time is it?", 0.2, False),
        ("10 of", 2e-6, False),
        ("He was not", 3e-9, False),
    ],
)
def test_the_voice_is_asked_only_when_it_could_change_the_wait(text: str, p_end: float, worth_asking: bool) -> None:
    assert P.voice_may_shorten(text, p_end) is worth_asking


@pytest.mark.parametrize(
    "text",
    ["Uh-huh.", "Yeah, right.", "mm-hmm", "I see.", "I.E.", "M-M-M-M.", "AHH", "Okay", "Hmm.", "Oh, wow.", ""],
)
def test_backchannels_and_sounds(text: str) -> None:
    from voice_agent.core.policy import is_backchannel

    assert is_backchannel(text)


# Whisper writes a spoken number as digits: "one" over the agent came back "1.", and is a word.
@pytest.mark.parametrize(
    "text", ["Wait, stop.", "What about tomorrow?", "No, go home.", "Uh, hold on", "I see a dog", "1.", "2", "10:30"]
)
def test_real_words_are_not_backchannels(text: str) -> None:
    from voice_agent.core.policy import is_backchannel

    assert not is_backchannel(text)


@pytest.mark.parametrize(
    ("text", "echo"),
    [("next.", True), ("The next ten.", True), ("Next, stop.", False), ("", False), ("Ten!", True), ("10", False)],
)
def test_own_echo_is_a_transcript_made_only_of_the_agents_recent_words(text: str, echo: bool) -> None:
    from voice_agent.core.policy import is_own_echo

    assert is_own_echo(text, "I'm going to the next ten") is echo


def test_words_playing_between_two_sample_positions() -> None:
    from voice_agent.core.heard import Track

    track = Track()
    track.add("I'm going to", 1200)  # 12 weights of 100 samples: "I'm" 0-400, "going" 400-1000, "to" 1000-1200
    track.add("the next ten", 1300)  # "the" 1200-1600, "next" 1600-2100, "ten" 2100-2500
    assert track.text_between(1700, 1800) == "next"
    assert track.text_between(900, 1300) == "going to the"
    assert track.text_between(-5000, 100) == "I'm"
    assert track.text_between(2500, 9000) == ""
