"""CPU priority between model calls that share a few cores (and every session of a process).

On a 2-core machine an LLM that keeps generating while the first clause is
being synthesised halves the speed of both, and llama.cpp's spinning threads
make it worse. The first audio decides the latency a person hears, so urgent
work (final transcript, first clause's speech) runs alone: background
generation pauses between tokens until it is done.

With many sessions per process the same holds across sessions, in this order
(`Level`): first-audio work (a final transcript, end-of-turn scoring, a first
clause's speech) before later clauses' speech, before partial transcripts.
LLM generation, which every reply's first clause waits for, yields only to
first-audio work (at its checkpoints). A blocking call enters a `section(level)`:
it waits to start while more urgent work is running or waiting. Calls cannot
be pre-empted once started; the order only decides who starts next, and no
wait exceeds `max_wait_s`, so nothing starves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from enum import IntEnum


class Level(IntEnum):
    """Priority classes, most urgent first."""

    FIRST_AUDIO = 0  # final transcript, end-of-turn, first clause's synthesis
    GENERATION = 1  # LLM generation: pauses at checkpoints for first-audio work only
    LATER_AUDIO = 2  # synthesis of a reply's later clauses (they have playout time in hand)
    PARTIAL = 3  # partial transcripts while the user speaks


class CpuPriority:
    """Prioritised sections, and a checkpoint where background work waits for them."""

    def __init__(self, max_wait_s: float = 3.0) -> None:
        self._cond = threading.Condition()
        self._active = [0] * len(Level)  # sections running or waiting to run, per level
        self.max_wait_s = max_wait_s  # a stuck urgent call never starves others forever
        self.waited_s = [0.0] * len(Level)  # total time each level spent waiting (diagnostics)

    def _more_urgent(self, level: Level) -> bool:
        return any(self._active[: int(level)])

    @contextmanager
    def section(self, level: Level) -> Iterator[None]:
        """Run the enclosed (blocking) work at `level`: start once nothing more urgent is pending."""
        with self._cond:
            self._active[level] += 1
            if self._more_urgent(level):
                t = time.monotonic()
                self._cond.wait_for(lambda: not self._more_urgent(level), timeout=self.max_wait_s)
                self.waited_s[level] += time.monotonic() - t
        try:
            yield
        finally:
            with self._cond:
                self._active[level] -= 1
                self._cond.notify_all()

    def urgent(self) -> AbstractContextManager[None]:
        """Mark the enclosed (blocking) work as urgent (Level.FIRST_AUDIO)."""
        return self.section(Level.FIRST_AUDIO)

    def checkpoint(self, level: Level = Level.GENERATION) -> None:
        """Called by lower-priority work between chunks: wait while more urgent work is pending."""
        with self._cond:
            if self._more_urgent(level):
                self._cond.wait_for(lambda: not self._more_urgent(level), timeout=self.max_wait_s)

    def pending(self, level: Level) -> int:
        """Sections of exactly `level` running or waiting right now."""
        return self._active[level]

    @property
    def busy(self) -> bool:
        """True while urgent work runs."""
        return self._active[Level.FIRST_AUDIO] > 0
