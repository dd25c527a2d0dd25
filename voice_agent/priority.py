"""CPU priority between model calls that share a few cores (and every session of a process).

On a 2-core machine an LLM that keeps generating while the first clause is
being synthesised halves the speed of both, and llama.cpp's spinning threads
make it worse. The first audio decides the latency a person hears, so urgent
work (final transcript, first clause's speech) runs alone: background
generation pauses between tokens until it is done.

With many sessions per process the same holds across sessions, in this order
(`Level`): first-audio work (a final transcript, end-of-turn scoring, a first
clause's speech), then generation up to a reply's first clause, then the
rest of the generation, then later clauses' speech, then partial
transcripts. Generation yields at its checkpoints (between tokens); once a
reply has a clause out it has playout time in hand, so it also yields to
other replies still waiting for their first clause. A blocking call enters a `section(level)`:
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
    GENERATION = 1  # LLM generation up to a reply's first clause: pauses for first-audio work only
    LATER_GENERATION = 2  # generation once a clause is out: pauses for the above (never registered)
    LATER_AUDIO = 3  # synthesis of a reply's later clauses (they have playout time in hand)
    PARTIAL = 4  # partial transcripts while the user speaks


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

    def enter(self, level: Level) -> None:
        """Register long-running work at `level` without waiting (it yields at its checkpoints)."""
        with self._cond:
            self._active[level] += 1

    def leave(self, level: Level) -> None:
        """End what `enter(level)` registered."""
        with self._cond:
            self._active[level] -= 1
            self._cond.notify_all()

    def checkpoint(self, level: Level = Level.GENERATION, max_wait_s: float | None = None) -> None:
        """Called by lower-priority work between chunks: wait while more urgent work is pending."""
        timeout = self.max_wait_s if max_wait_s is None else min(max_wait_s, self.max_wait_s)
        with self._cond:
            if self._more_urgent(level):
                self._cond.wait_for(lambda: not self._more_urgent(level), timeout=timeout)

    def pending(self, level: Level) -> int:
        """Sections of exactly `level` running or waiting right now."""
        return self._active[level]

    def only(self, level: Level) -> bool:
        """True while exactly one section (or registration) of `level` is active, and nothing else."""
        with self._cond:
            return self._active[level] == 1 and sum(self._active) == 1

    @property
    def idle(self) -> bool:
        """True while no section runs or waits at any level (optional work may start)."""
        with self._cond:
            return not any(self._active)

    @property
    def busy(self) -> bool:
        """True while urgent work runs."""
        return self._active[Level.FIRST_AUDIO] > 0


class GenerationYield:
    """What a reply's generation calls between tokens (in its thread).

    From its first token until its first clause is out, the generation counts
    as `Level.GENERATION` work, and other replies' later generation yields to
    it while their playout time in hand (`slack_until`) lasts. Registering
    only from the first token on matters: a reply still waiting for an LLM
    context must not make the replies holding the contexts wait for it.
    """

    def __init__(self, priority: CpuPriority, max_wait_s: float = 0.5) -> None:
        self._priority = priority
        self._lock = threading.Lock()
        self._state = "new"  # new -> registered -> done
        self.max_wait_s = max_wait_s
        self.clause_out = False  # set by the reply once its first clause is queued for speech
        self.slack_until = 0.0  # monotonic time until which its audio can wait for more text

    def __call__(self) -> None:
        """Yield the CPU to more urgent work, if any."""
        if self.clause_out:
            self.close()
            slack = self.slack_until - time.monotonic()
            if slack > 0:
                self._priority.checkpoint(Level.LATER_GENERATION, min(slack, self.max_wait_s))
                return
        else:
            with self._lock:
                if self._state == "new":
                    self._state = "registered"
                    self._priority.enter(Level.GENERATION)
        self._priority.checkpoint(Level.GENERATION)

    def close(self) -> None:
        """Stop counting as first-clause work (idempotent; from any thread)."""
        with self._lock:
            if self._state == "registered":
                self._priority.leave(Level.GENERATION)
            self._state = "done"
