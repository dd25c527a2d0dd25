"""The WER normaliser and edit distance."""

from __future__ import annotations

import pytest

from voice_agent.bench.wer import aggregate_wer, normalize, wer


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("IN EIGHTEEN THIRTEEN", ["in", "1813"]),
        ("in 1813.", ["in", "1813"]),
        ("Go forward 10 meters.", ["go", "forward", "10", "meters"]),
        ("go forward ten meters", ["go", "forward", "10", "meters"]),
        ("five five", ["5", "5"]),
        ("one hundred and five", ["105"]),
        ("twenty-five", ["25"]),
        ("1, 2, 3.", ["1", "2", "3"]),
        ("Mr. John Dashwood", ["mister", "john", "dashwood"]),
        ("cold-hearted", ["cold", "hearted"]),
        ("It's 1,000 people", ["its", "1000", "people"]),
    ],
)
def test_normalize(text: str, words: list[str]) -> None:
    assert normalize(text) == words


def test_wer_counts_substitutions_insertions_deletions() -> None:
    assert wer("the cat sat", "the cat sat") == 0.0
    assert wer("the cat sat", "the bat sat") == pytest.approx(1 / 3)
    assert wer("the cat sat", "the cat") == pytest.approx(1 / 3)
    assert wer("the cat", "the cat sat down") == pytest.approx(1.0)
    assert wer("", "") == 0.0 and wer("", "hello") == 1.0


def test_aggregate_is_total_edits_over_total_words() -> None:
    pairs = [("a b c d", "a b c d"), ("x y", "x z")]
    assert aggregate_wer(pairs) == pytest.approx(1 / 6)


def test_loop_detector() -> None:
    from voice_agent.stages.asr_whisper import looks_looped

    assert looks_looped("4. Queen of Cloves 4. Queen of Cloves 4. Queen")
    assert looks_looped("5 5 5 5 5 5 5")
    assert looks_looped("I see. I see. I see. I see.")
    assert not looks_looped("five five")
    assert not looks_looped("no no no")
    assert not looks_looped("And so my fellow Americans, ask not what your country can do for you, ask what you can do")
    assert not looks_looped("He began a confused complaint against the wizard who had vanished behind the curtain.")


@pytest.mark.parametrize(
    ("looped", "kept"),
    [
        ("4. Queen of Cloves 4. Queen of Cloves 4. Queen", "4. Queen of Cloves"),
        ("Go for it. Go for it. Go for", "Go for it."),
        (
            "And so my fellow Americans ask not what your country can do for you ask what you "
            "ask not what your country can do for you ask what you ask",
            "And so my fellow Americans ask not what your country can do for you ask what you",
        ),
        ("five five five five five five five", None),  # how many fives were said is lost: retry
        # the loop repeats a first pass worded a little differently: which one is right is unknown
        ("Please hold while I try the extension. " + "Please hold while I try that extension. " * 3, None),
        ("He began a confused complaint", None),
    ],
)
def test_a_looping_decode_keeps_its_first_pass(looped: str, kept: str | None) -> None:
    from voice_agent.stages.asr_whisper import first_cycle

    assert first_cycle(looped) == kept
