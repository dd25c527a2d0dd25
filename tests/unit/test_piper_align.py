"""Word spans from Piper's phoneme alignments (the format of its server's GET /info)."""

from __future__ import annotations

from voice_agent.stages.piper_align import word_spans

RATE = 1000  # one sample a millisecond keeps the numbers readable


def _last(text: str, phonemes: list[tuple[str, float]]) -> dict[str, object]:
    return {"text": text, "alignments": [{"phoneme": p, "seconds": s} for p, s in phonemes]}


# "Sure, I can." as Piper gave it: ʃˈʊɹ, aɪ kæn.  (the comma is the 300 ms pause)
SURE = [("^", 0.035), ("ʃ", 0.046), ("ˈ", 0.128), ("ʊ", 0.07), ("ɹ", 0.081), (",", 0.302), (" ", 0.058),
        ("a", 0.046), ("ɪ", 0.035), (" ", 0.058), ("k", 0.035), ("æ", 0.023), ("n", 0.035), (".", 0.128),
        ("$", 0.023)]  # fmt: skip


def test_words_are_the_phonemes_between_spaces_without_the_pauses() -> None:
    total = round(sum(s for _, s in SURE) * RATE)
    spans = word_spans(_last("Sure, I can.", SURE), "Sure, I can.", total, RATE)
    assert spans == [(35, 360), (720, 801), (859, 952)]  # "Sure" ends where the comma's pause begins


def test_an_alignment_that_does_not_fit_the_clause_is_not_used() -> None:
    total = round(sum(s for _, s in SURE) * RATE)
    assert word_spans(_last("Sure, I can.", SURE), "Something else.", total, RATE) is None  # another synthesis
    assert word_spans(_last("Sure, I can.", SURE), "Sure, I can.", total + 200, RATE) is None  # audio not covered
    assert word_spans(_last("Sure, I can.", SURE), "Sure, I can.", total, RATE) is not None
    assert word_spans(_last("Sure, I can do.", SURE), "Sure, I can do.", total, RATE) is None  # a word missing
    assert word_spans({"text": "Hi.", "alignments": [{"phoneme": "h"}]}, "Hi.", 10, RATE) is None  # malformed
    assert word_spans({"text": "Hi."}, "Hi.", 10, RATE) is None  # no alignments (server without onnx)
