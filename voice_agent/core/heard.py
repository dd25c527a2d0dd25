"""What the listener actually heard of a reply: clause and word timing on its audio.

A reply's audio is a sequence of clauses; the transport (or the benchmark's
playout clock) tells how many samples were played before the cut. Words are
placed inside each clause in proportion to their length, which is within a
word of the truth for Piper's steady speaking rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Track:
    """Clause texts with their sample ranges in one reply's audio."""

    clauses: list[tuple[str, int, int]] = field(default_factory=list)  # (text, start, end)

    @property
    def length(self) -> int:
        """Samples of audio in the track so far."""
        return self.clauses[-1][2] if self.clauses else 0

    def add(self, text: str, n_samples: int) -> None:
        """Append a clause of `n_samples` samples."""
        start = self.length
        self.clauses.append((text, start, start + n_samples))

    def heard_text(self, upto: int) -> str:
        """The words whose middle was played before sample `upto`."""
        words: list[str] = []
        for text, start, end in self.clauses:
            if upto >= end:
                words.extend(text.split())
                continue
            if upto <= start:
                break
            words.extend(_words_before(text, (upto - start) / max(1, end - start)))
            break
        return " ".join(words)

    def text_between(self, start: int, end: int) -> str:
        """The words that were playing, even in part, between samples `start` and `end`."""
        words: list[str] = []
        for text, c0, c1 in self.clauses:
            if c1 <= start or c0 >= end:
                continue
            pieces = text.split()
            weights = [len(w) + 1 for w in pieces]
            scale = (c1 - c0) / (sum(weights) or 1)
            pos = float(c0)
            for word, weight in zip(pieces, weights):
                w0, pos = pos, pos + weight * scale
                if pos > start and w0 < end:
                    words.append(word)
        return " ".join(words)


def _words_before(text: str, fraction: float) -> list[str]:
    """Words of `text` whose midpoint lies before `fraction` of its duration."""
    words = text.split()
    weights = [len(w) + 1 for w in words]  # the +1 stands for the gap after each word
    total = sum(weights) or 1
    out, pos = [], 0.0
    for word, weight in zip(words, weights):
        if (pos + weight / 2) / total > fraction:
            break
        out.append(word)
        pos += weight
    return out
