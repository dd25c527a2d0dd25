"""Where an interrupted reply was really cut: a ruler independent of the session's own word timing.

The session places words inside each clause in proportion to their length
(`core.heard`). The bench checks it against what a listener could make out:
Whisper's transcript of the heard audio alone, matched against the reply's
text. Whisper completes a clipped sentence from its own guess ("...make a
cut."), so its transcript is not taken as it is: the ruler is the prefix of
the reply's words that the transcript matches best: a word matched scores,
a like-spelled one ("tree" for a clipped "treaty") scores less, and a word
Whisper added or missed costs. (Whisper's word
timestamps were tried as a ruler and dropped: on Piper's audio tiny.en gave
words of 20-60 ms and boundaries 100-400 ms off the dips in the signal.)
"""

from __future__ import annotations

from difflib import SequenceMatcher

from .wer import normalize


def _pair_score(said: str, heard: str) -> int:
    """4 for the same word, 2 for a like-spelled one (clipped or misheard: "tree", "treaty"), -2 otherwise."""
    if said == heard:
        return 4
    if min(len(said), len(heard)) >= 3 and SequenceMatcher(None, said, heard).ratio() >= 0.6:
        return 2
    return -2


_ADDED = -2  # a word Whisper wrote that the reply does not have here
# A reply word Whisper left out costs more, so that one guessed word past the cut
# ("...mention that" for "...mention the fact that") does not pull the cut two words on.
_MISSED = -3


def heard_prefix(reply: list[str], transcript: list[str]) -> int:
    """How many of `reply`'s first words `transcript` matches best (the fewest, where several tie)."""
    # One alignment table of transcript against reply; its last row scores the
    # whole transcript against every prefix of the reply at once.
    prev = [_MISSED * j for j in range(len(reply) + 1)]
    for i, word in enumerate(transcript, 1):
        cur = [_ADDED * i] + [0] * len(reply)
        for j, said in enumerate(reply, 1):
            cur[j] = max(prev[j] + _ADDED, cur[j - 1] + _MISSED, prev[j - 1] + _pair_score(said, word))
        prev = cur
    best = max(prev)
    return prev.index(best)


def words_off(committed: str, voiced: str, transcript: str) -> tuple[int, int]:
    """(true heard words, |committed - true|): how far the committed heard text is from the cut."""
    truth = heard_prefix(normalize(voiced), normalize(transcript))
    return truth, abs(len(normalize(committed)) - truth)
