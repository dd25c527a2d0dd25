"""CPU priority between model calls that share two cores.

On a 2-core machine an LLM that keeps generating while the first clause is
being synthesised halves the speed of both, and llama.cpp's spinning threads
make it worse. The first audio decides the latency a person hears, so urgent
work (final transcript, first clause's speech) runs alone: background
generation pauses between tokens until it is done.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CpuPriority:
    """Urgent sections, and a checkpoint where background work waits for them."""

    def __init__(self, max_wait_s: float = 3.0) -> None:
        self._cond = threading.Condition()
        self._urgent = 0
        self.max_wait_s = max_wait_s  # a stuck urgent call never starves others forever

    @contextmanager
    def urgent(self) -> Iterator[None]:
        """Mark the enclosed (blocking) work as urgent."""
        with self._cond:
            self._urgent += 1
        try:
            yield
        finally:
            with self._cond:
                self._urgent -= 1
                self._cond.notify_all()

    def checkpoint(self) -> None:
        """Called by background work between chunks: wait while urgent work runs."""
        with self._cond:
            self._cond.wait_for(lambda: self._urgent == 0, timeout=self.max_wait_s)

    @property
    def busy(self) -> bool:
        """True while urgent work runs."""
        return self._urgent > 0
