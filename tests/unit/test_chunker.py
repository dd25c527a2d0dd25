"""Clause chunking of streamed LLM text, and making text speakable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from voice_agent.core.chunker import ClauseChunker
from voice_agent.core.speakable import number_words, ordinal_words, speakable


def stream(text: str, step: int = 3) -> list[str]:
    ch = ClauseChunker()
    out: list[str] = []
    for i in range(0, len(text), step):
        out += ch.push(text[i : i + step])
    return out + ch.flush()


def test_first_clause_is_short_then_sentences() -> None:
    clauses = stream("Well, I think that is a lovely idea. Let's meet at the park tomorrow morning, shall we?")
    assert clauses == ["Well,", "I think that is a lovely idea.", "Let's meet at the park tomorrow morning, shall we?"]


def test_first_clause_not_cut_after_a_function_word() -> None:
    clauses = stream("I am not sure what you mean by the thing you said earlier today.")
    assert clauses[0] == "I am not sure"
    clauses = stream("He gave it to the dog today.")
    assert clauses[0] == "He gave it to the dog"  # not after "to" or "the"
    clauses = stream("Maybe we could go to the cinema and then eat something.")
    assert clauses[0].split()[-1] not in ("to", "the", "and", "a")


def test_decimal_and_abbreviation_are_not_cut() -> None:
    clauses = stream("Dr. Smith said it costs 3.5 dollars today. Bye now.")
    assert clauses[0].startswith("Dr. Smith")
    assert any("three point five" in c for c in clauses)
    assert clauses[-1] == "Bye now."


def test_punctuation_after_a_word_cuts_without_waiting_for_the_next_token() -> None:
    ch = ClauseChunker()
    assert ch.push("I'm") == [] and ch.push(" sorry") == []
    assert ch.push(",") == ["I'm sorry,"]
    assert ch.push(" that is") == [] and ch.push(",") == []  # a later clause is cut at a comma after 8 words
    assert ch.push(" sad") == [] and ch.push("!") == ["that is, sad!"]
    ch = ClauseChunker()
    assert ch.push("It costs 3") == [] and ch.push(".") == []  # "3.5"?
    assert ch.push("5 now") == [] and ch.push(".") == ["It costs three point five now."]
    ch = ClauseChunker()
    assert ch.push("Ask Dr") == [] and ch.push(".") == []  # an abbreviation waits for what follows
    assert ch.push(" Smith, please.") == ["Ask Dr. Smith,", "please."]


def test_long_run_without_punctuation_is_split() -> None:
    words = " ".join(["word"] * 80)
    clauses = stream(words + ".")
    assert len(clauses) >= 3
    assert all(len(c.split()) <= 29 for c in clauses)


def test_markdown_emoji_and_symbols_are_made_speakable() -> None:
    assert speakable("**Note**: 50% of $20 & more 🙂") == "Note: fifty percent of twenty dollars and more"
    assert speakable("- first item\n- second item") == "first item second item"
    assert speakable("Call me at 3-5 pm, the 21st.") == "Call me at three to five pm, the twenty-first."
    assert speakable("In 1999 it cost $1.50") == "In nineteen ninety-nine it cost one dollar and fifty cents"


def test_number_words() -> None:
    assert number_words(0) == "zero"
    assert number_words(42) == "forty-two"
    assert number_words(1005) == "one thousand five"
    assert number_words(2_300_017) == "two million three hundred thousand seventeen"
    assert (
        ordinal_words(3) == "third" and ordinal_words(40) == "fortieth" and ordinal_words(112) == "one hundred twelfth"
    )


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200),
       st.integers(min_value=1, max_value=9))  # fmt: skip
def test_chunker_never_loses_words(text: str, step: int) -> None:
    """Whatever the deltas, every word-bearing clause comes out, in order, none empty."""
    ch = ClauseChunker()
    out: list[str] = []
    for i in range(0, len(text), step):
        out += ch.push(text[i : i + step])
    out += ch.flush()
    assert all(c.strip() for c in out)
    whole = speakable(text)
    if any(ch.isalnum() for ch in whole):
        assert out, "text with words produced no clause"
