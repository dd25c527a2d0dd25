"""What the listener actually heard of a reply: clause and word timing on its audio.

A reply's audio is a sequence of clauses; the transport (or the benchmark's
playout clock) tells how many samples were played before the cut. Where the
TTS reports each word's span (Piper's phoneme alignments) that is used as it
is. Otherwise words are placed inside each clause's voiced span (Piper leads
with 30-60 ms of silence and trails 100-250 ms) in proportion to their
letters, with a pause after punctuation, which is within a word of the truth
for Piper's steady speaking rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Track:
    """Clause texts with their sample ranges in one reply's audio."""

    clauses: list[tuple[str, int, int]] = field(default_factory=list)  # (text, start, end)
    spoken: list[tuple[int, int]] = field(default_factory=list)  # each clause's voiced span (start, end)
    timed: list[list[tuple[str, float, float]]] = field(default_factory=list)  # each clause's words placed

    @property
    def length(self) -> int:
        """Samples of audio in the track so far."""
        return self.clauses[-1][2] if self.clauses else 0

    def add(
        self,
        text: str,
        n_samples: int,
        voiced: tuple[int, int] | None = None,
        words: list[tuple[int, int]] | None = None,
    ) -> None:
        """Append a clause of `n_samples` samples, its speech at `voiced` within it (default: all),
        and each word's (start, end) within it where the TTS reported them."""
        start = self.length
        v0, v1 = voiced if voiced is not None and voiced[0] < voiced[1] else (0, n_samples)
        self.clauses.append((text, start, start + n_samples))
        self.spoken.append((start + max(0, v0), start + min(n_samples, v1)))
        if words is not None and len(words) == len(text.split()):
            self.timed.append([(w, start + a, start + b) for w, (a, b) in zip(text.split(), words)])
        else:
            self.timed.append(_placed(text, *self.spoken[-1]))

    def heard_text(self, upto: int) -> str:
        """The words whose middle was played before sample `upto`."""
        words: list[str] = []
        for (text, start, end), placed in zip(self.clauses, self.timed):
            if upto >= end:
                words.extend(text.split())
                continue
            if upto <= start:
                break
            words.extend(word for word, w0, w1 in placed if (w0 + w1) / 2 <= upto)
            break
        return " ".join(words)

    def text_between(self, start: int, end: int) -> str:
        """The words that were playing, even in part, between samples `start` and `end`."""
        words: list[str] = []
        for (s0, s1), placed in zip(self.spoken, self.timed):
            if s0 < end and s1 > start:
                words.extend(word for word, w0, w1 in placed if w1 > start and w0 < end)
        return " ".join(words)


# Piper pauses at punctuation inside a clause: 230-410 ms at a comma, semicolon
# or colon (measured on en_US-joe-medium), about 6 letters' worth at its ~51 ms a letter.
_PAUSE_WEIGHT = {",": 6, ";": 6, ":": 6, "-": 4, "—": 6, ".": 8, "?": 8, "!": 8}


def _placed(text: str, start: int, end: int) -> list[tuple[str, float, float]]:
    """Each word of `text` with the samples it takes of start..end: its letters, then any pause after it."""
    words = text.split()
    spans: list[tuple[str, float, float]] = []
    pos = 0.0
    for i, word in enumerate(words):
        letters = len(word.rstrip(",;:-—.?!\"')")) or len(word)
        spans.append((word, pos, pos + letters + 1))  # the +1 stands for the gap after each word
        pos += letters + 1
        if i < len(words) - 1:
            pos += _PAUSE_WEIGHT.get(word.rstrip("\"')")[-1:], 0)
    scale = (end - start) / (pos or 1)
    return [(word, start + a * scale, start + b * scale) for word, a, b in spans]
