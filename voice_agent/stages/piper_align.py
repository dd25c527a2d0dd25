"""Word timing from Piper's phoneme alignments: where each word of a clause lies in its audio.

Piper's HTTP server reports, in `GET /info` under `last`, the phonemes of the
text it last synthesized and how long each one sounds (it needs the `onnx`
package to expose them). Words are the runs of phonemes between the " "
phonemes; a punctuation phoneme is the pause after a word (300 ms at a
comma), not part of it. The durations add up to the audio's length exactly,
so a word's span is known to the sample, not estimated from its letters.
"""

from __future__ import annotations

from typing import Any

# Phonemes that are boundaries or pauses, not sounds of a word: the sentence
# start/end marks and punctuation espeak-ng passes through.
_NOT_IN_WORDS = frozenset("^$_,.;:!?¡¿…—–-\"'()")


def word_spans(last: dict[str, Any], text: str, n_samples: int, rate: int) -> list[tuple[int, int]] | None:
    """Each word of `text` as (start, end) samples in its audio, or None if the alignment does not fit it."""
    if last.get("text") != text:
        return None  # the server's last synthesis was not this clause
    spans: list[tuple[int, int]] = []
    word: tuple[int, int] | None = None
    pos = 0
    try:
        for entry in last.get("alignments") or []:
            n = int(round(float(entry["seconds"]) * rate))
            phoneme = str(entry["phoneme"])
            if phoneme.isspace() or phoneme in _NOT_IN_WORDS:
                if word is not None:
                    spans.append(word)
                    word = None
            else:
                word = (pos, pos + n) if word is None else (word[0], pos + n)
            pos += n
    except (KeyError, TypeError, ValueError):
        return None
    if word is not None:
        spans.append(word)
    # A clause of several sentences gets silence between them that no phoneme
    # accounts for; words espeak-ng reads as more or fewer than written don't map.
    if abs(pos - n_samples) > rate // 100 or len(spans) != len(text.split()):
        return None
    return spans
