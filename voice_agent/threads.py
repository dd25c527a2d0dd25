"""Run blocking generators in worker threads and consume them from asyncio."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


async def iterate_in_thread(
    make: Callable[[Callable[[], bool]], Iterator[T]],
    between: Callable[[], None] | None = None,
) -> AsyncGenerator[T, None]:
    """Iterate `make(cancelled)` in a thread, yielding its items on the event loop.

    Cancelling the consumer (or closing this generator) sets the flag that
    `cancelled()` reports, so the producer stops within one item. `between`
    runs in the thread after each item (a lazy generator does no work while it
    blocks there: that is how background generation yields the CPU).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in make(stop.is_set):
                if stop.is_set():
                    break
                loop.call_soon_threadsafe(queue.put_nowait, item)
                if between is not None and not stop.is_set():
                    between()
        except BaseException as exc:  # delivered to the consumer, re-raised there
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    worker = loop.run_in_executor(None, produce)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        # The thread notices within one item; don't leave it running unobserved.
        await asyncio.shield(worker)
