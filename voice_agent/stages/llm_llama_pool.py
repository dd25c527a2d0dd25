"""Several llama.cpp contexts of one GGUF, so sessions don't queue behind each other's replies.

One context serves one generation at a time: with many sessions per process,
a session's first token would wait behind every other session's whole reply.
A pool of contexts (about 140 MB each for the bundled 135M model, weights and
KV cache) lets replies overlap. A turn goes to the free context that already
holds the longest prefix of its prompt, so the warm system prompt and the
end-of-turn scoring that preceded it are reused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .base import Cancelled, Message
from .llm_llama import LlamaLlm


class LlamaPool:
    """The Llm Protocol over `size` LlamaLlm contexts of the same model."""

    def __init__(self, model_path: str | Path, size: int = 2, **kwargs: object) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one context")
        # One thread drives every context (see llm_llama): calls of two sessions' replies
        # interleave there, token by token.
        worker = ThreadPoolExecutor(1, thread_name_prefix="llama")
        self.contexts = [LlamaLlm(model_path, worker=worker, **kwargs) for _ in range(size)]  # type: ignore[arg-type]
        self._pick = threading.Lock()

    def warm(self, messages: list[Message]) -> None:
        """Evaluate the prompt prefix in every context."""
        for ctx in self.contexts:
            ctx.warm(messages)

    def _free_by_affinity(self, messages: list[Message]) -> list[LlamaLlm]:
        """Free contexts, the one holding most of this prompt first."""
        free = [c for c in self.contexts if not c.busy]
        if len(free) < 2:
            return free
        return sorted(free, key=lambda c: -c.cached_prefix(messages))

    def end_of_turn(self, messages: list[Message]) -> float | None:
        """Score on a free context (None if all are generating: never wait on the endpoint's path)."""
        with self._pick:
            free = self._free_by_affinity(messages)
        return free[0].end_of_turn(messages) if free else None

    def stream(self, messages: list[Message], cancelled: Cancelled) -> Iterator[str]:
        """Stream on the best free context, waiting for one if all are busy."""
        while not cancelled():
            with self._pick:
                free = self._free_by_affinity(messages)
                if free:
                    chosen = free[0]
                    chosen.reserve()
                    break
            time.sleep(0.005)
        else:
            return
        # Started at once by `yield from`, the inner stream owns the reservation and releases it.
        yield from chosen.stream(messages, cancelled, reserved=True)
