"""Word error rate with an English normaliser in the spirit of Whisper's.

Both sides are lower-cased, stripped of punctuation, and numbers are written
one way (digits): "ten" and "10" are the same word, so are "eighteen
thirteen" and "1813". Common titles are spelled out ("mr" -> "mister").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "  # noqa: SIM905
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate(["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])
    if i >= 2
}
_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9}
_ABBREV = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay", "vs": "versus"}


def _numbers(words: list[str]) -> list[str]:
    out: list[str] = []
    total = current = 0
    active = False
    last_small: int | None = None  # for year-style pairs: "eighteen thirteen"

    def flush() -> None:
        nonlocal total, current, active, last_small
        if active:
            out.append(str(total + current))
        total = current = 0
        active = False
        last_small = None

    for i, w in enumerate(words):
        if w in _UNITS or w in _TENS:
            v = _UNITS.get(w, _TENS.get(w, 0))
            low = current % 100
            if (
                active
                and total == 0
                and current >= 10
                and current < 100
                and low >= 10
                and v >= 10
                and last_small is not None
                and current == last_small
            ):
                current = current * 100 + v  # year style: nineteen ninety, eighteen thirteen
                last_small = None
                continue
            fits = low == 0 or (v < 10 and low >= 20 and low % 10 == 0)
            if active and not fits:
                flush()
            current += v
            active = True
            last_small = current if current < 100 else None
        elif w == "hundred" and active:
            current = max(current, 1) * 100
            last_small = None
        elif w in _SCALES and active:
            total += max(current, 1) * _SCALES[w]
            current = 0
            last_small = None
        elif (
            w == "and"
            and active
            and i + 1 < len(words)
            and (words[i + 1] in _UNITS or words[i + 1] in _TENS)
            and current % 100 == 0
            and current >= 100
        ):
            continue
        else:
            flush()
            out.append(w)
    flush()
    return out


def normalize(text: str) -> list[str]:
    """Lower-case, strip punctuation, write numbers as digits; return the words."""
    text = text.lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"[-‐–—/]", " ", text)
    text = re.sub(r"\d+(?:\.\d+)?", lambda m: f" {m.group(0)} ", text)
    text = text.replace("%", " percent ")
    text = re.sub(r"[^\w\s']|_", " ", text)
    text = text.replace("'", "")
    words = [_ABBREV.get(w, w) for w in text.split()]
    return _numbers(words)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between word lists."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(ref: str, hyp: str) -> float:
    """Word error rate of one hypothesis (1.0 for any words against an empty reference)."""
    r, h = normalize(ref), normalize(hyp)
    if not r:
        return 0.0 if not h else 1.0
    return edit_distance(r, h) / len(r)


def aggregate_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Total edits over total reference words, across (reference, hypothesis) pairs."""
    edits = words = 0
    for ref, hyp in pairs:
        r, h = normalize(ref), normalize(hyp)
        edits += edit_distance(r, h)
        words += len(r)
    return edits / words if words else 0.0
