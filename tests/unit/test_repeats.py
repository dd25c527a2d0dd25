"""The reply after a barge-in does not say again what the listener already heard."""

from __future__ import annotations

import pytest

from voice_agent.core.repeats import OpeningRepeatFilter, repeats_heard


@pytest.mark.parametrize(
    ("clause", "repeat"),
    [
        ("I'm not old-sposed.", True),  # measured: the cut reply, copied
        ("I'm glad to hear that.", True),
        ("not old-sposed", True),  # a run from inside it
        ("Ten of clubs.", False),
        ("I'm old-sposed.", False),  # not consecutive there
        ("Not.", False),  # one word is too little to call a repeat
    ],
)
def test_a_repeat_is_a_run_of_two_or_more_heard_words(clause: str, repeat: bool) -> None:
    assert repeats_heard(clause, "I'm glad to hear that. I'm not old-sposed.") is repeat


def test_opening_clauses_copied_from_the_cut_reply_are_dropped_then_everything_is_kept() -> None:
    f = OpeningRepeatFilter("I'm glad to hear that. I'll make sure —")
    clauses = ["I'm glad to hear that.", "I'll make sure", "to tell her.", "I'm glad to hear that."]
    assert [f.take(c) for c in clauses] == [None, None, "to tell her.", "I'm glad to hear that."]
    assert f.dropped == ["I'm glad to hear that.", "I'll make sure"]


def test_a_reply_that_was_not_cut_may_be_echoed() -> None:
    f = OpeningRepeatFilter("I'm glad to hear that.")
    assert f.take("I'm glad to hear that.") == "I'm glad to hear that."
    assert OpeningRepeatFilter(None).take("Hello there.") == "Hello there."


def test_a_copy_that_runs_into_a_clause_with_new_words_is_cut_there() -> None:
    f = OpeningRepeatFilter("Once upon a time there was —")
    assert f.take("Once upon a time there") is None
    assert f.take("was —ten of clubs,") == "ten of clubs,"
    assert f.take("I think.") == "I think."


def test_a_reply_that_is_only_the_copy_is_said_after_all() -> None:
    f = OpeningRepeatFilter("I'm sorry, I couldn't help it. —")
    assert [f.take(c) for c in ["I'm sorry,", "I couldn't help it."]] == [None, None]
    assert f.leftover() == ["I'm sorry,", "I couldn't help it."]
    g = OpeningRepeatFilter("I'm sorry, I —")
    assert [g.take(c) for c in ["I'm sorry,", "I can't."]] == [None, "I can't."]  # no cut mark: no fragment
    assert g.leftover() == []
