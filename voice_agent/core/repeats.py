"""After an interruption, the next reply must not say again what was already heard.

The conversation keeps a cut reply as the words heard, marked with a dash
("I'm not old-sposed. —"). A small model often answers the next turn by
copying that message before going on ("I'm not old-sposed. —ten of
clubs."): the listener hears the same words twice. The opening clauses of
the next reply that are only a run of the heard words are dropped; the first
clause that says something new ends the check, so a later echo of a phrase
is left alone. A reply that was nothing but the copy is said after all: to
hear the words again is better than silence after one's question (measured:
2 of 8 barge-in trials went unanswered without this).
"""

from __future__ import annotations

import re

from .policy import words_of

CUT_MARK = " —"  # how a reply cut by a barge-in ends in the conversation


def _run_end(words: list[str], said: list[str], start: int) -> int | None:
    """Where in `said` (from `start` on) a run equal to `words` ends, or None."""
    n = len(words)
    return next((i + n for i in range(start, len(said) - n + 1) if said[i : i + n] == words), None)


def repeats_heard(clause: str, heard: str) -> bool:
    """True if `clause` (two words or more) is a run of consecutive words of `heard`."""
    words = words_of(clause)
    return len(words) >= 2 and _run_end(words, words_of(heard), 0) is not None


class OpeningRepeatFilter:
    """Drops the opening of a reply where it repeats the interrupted reply before it."""

    def __init__(self, previous_reply: str | None) -> None:
        cut = previous_reply is not None and previous_reply.endswith(CUT_MARK)
        self.heard = words_of(previous_reply[: -len(CUT_MARK)]) if cut and previous_reply else []
        self._at = 0  # where in the heard words the dropped opening has got to
        self.dropped: list[str] = []
        self._kept = False  # a clause of the reply has been let through

    def take(self, clause: str) -> str | None:
        """The part of `clause` to speak (None: nothing); once something is spoken, all is."""
        if not self.heard:
            self._kept = True
            return clause
        words = words_of(clause)
        end = _run_end(words, self.heard, self._at) if len(words) >= 2 else None
        if end is not None:
            self._at = end
            self.dropped.append(clause)
            return None
        rest = clause
        if self.dropped:
            # The copy may run on into this clause, up to the cut mark it copied too: "...there
            # was —ten of clubs,". Without the mark the words may be the reply picking up again
            # ("I can't."): cut there, they would leave a fragment.
            at, tail = self._at, clause
            for token in re.finditer(r"\S+", clause):
                said = words_of(token.group())
                if said and said != self.heard[at : at + len(said)]:
                    break
                at += len(said)
                tail = clause[token.end() :]
            if tail != clause and tail.lstrip().startswith(("\u2014", "-")):
                rest = tail.lstrip(" \u2014-,;:")
        self.heard = []
        self._kept = self._kept or bool(rest)
        return rest or None

    def leftover(self) -> list[str]:
        """At the reply's end: the dropped clauses if nothing else was said (a repeat beats silence)."""
        return [] if self._kept else self.dropped
