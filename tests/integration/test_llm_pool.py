"""A pool of llama.cpp contexts lets two sessions' replies overlap."""

from __future__ import annotations

import threading
import time

import pytest

from voice_agent.bundled import llm_model_file
from voice_agent.stages.base import Message
from voice_agent.stages.llm_llama_pool import LlamaPool

pytestmark = pytest.mark.models

SYSTEM = Message("system", "You are a helpful voice assistant. Answer in two sentences.")


def test_two_streams_overlap_and_prefer_their_warm_context() -> None:
    pool = LlamaPool(llm_model_file(), size=2, n_threads=1, max_tokens=40)
    pool.warm([SYSTEM])
    drivers: set[int] = set()  # the threads llama.cpp was driven from
    for ctx in pool.contexts:
        evaluate = ctx._llm.eval

        def traced(tokens: object, evaluate: object = evaluate) -> None:
            drivers.add(threading.get_ident())
            evaluate(tokens)  # type: ignore[operator]

        ctx._llm.eval = traced
    first_token: dict[str, float] = {}
    finished: dict[str, float] = {}

    def talk(name: str, question: str) -> None:
        for _ in pool.stream([SYSTEM, Message("user", question)], lambda: False):
            first_token.setdefault(name, time.monotonic())
        finished[name] = time.monotonic()

    a = threading.Thread(target=talk, args=("a", "Tell me about the sea."))
    b = threading.Thread(target=talk, args=("b", "Tell me about the mountains."))
    a.start()
    time.sleep(0.05)
    b.start()
    a.join(30)
    b.join(30)
    assert first_token["b"] < finished["a"], "the second reply waited for the whole first one"
    assert not any(c.busy for c in pool.contexts)
    # One thread drives both contexts: a second thread's OpenMP team made batches 2x slower.
    assert len(drivers) == 1, drivers


def test_end_of_turn_scores_on_a_free_context_and_never_waits() -> None:
    pool = LlamaPool(llm_model_file(), size=1, n_threads=1, max_tokens=40)
    pool.warm([SYSTEM])
    assert pool.end_of_turn([SYSTEM, Message("user", "Tell me a joke.")]) is not None
    stream = pool.stream([SYSTEM, Message("user", "Tell me a long story.")], lambda: False)
    next(stream)  # the only context is now generating
    t = time.monotonic()
    assert pool.end_of_turn([SYSTEM, Message("user", "Hello there.")]) is None
    assert time.monotonic() - t < 0.1
    stream.close()
    assert not pool.contexts[0].busy
