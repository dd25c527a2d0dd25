"""The OpenAI-compatible backend against a real server: llama-cpp-python's own, on the bundled GGUF.

Cancellation is proven on the server side: llama-cpp-python's server runs one
completion at a time under a lock, so a request sent right after a cancelled
1000-token generation is only served promptly if the server really aborted it
(its log also says "disconnected").
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_agent import bundled
from voice_agent.stages.base import Message, StageError
from voice_agent.stages.llm_openai import OpenAiLlm

MODEL = "smollm2"
PROMPT = [
    Message("system", "You are a helpful assistant."),
    Message("user", "Tell me a long story about a dragon."),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """`python -m llama_cpp.server` on the bundled GGUF, with its log in a file."""

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled.llm_model_file())]
        cmd += ["--model_alias", MODEL, "--host", "127.0.0.1", "--port", str(self.port)]
        # One request at a time, never pre-empted by a newer one: only a disconnect stops it.
        cmd += ["--n_threads", "2", "--n_ctx", "2048", "--interrupt_requests", "False"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("llama_cpp.server did not start in time")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    s = LlamaServer(tmp_path_factory.mktemp("llm") / "server.log")
    s.start()
    yield s
    s.kill()


def _first_token_s(llm: OpenAiLlm) -> tuple[float, str]:
    t = time.monotonic()
    gen = llm.stream(PROMPT, lambda: False)
    first = next(gen)
    took = time.monotonic() - t
    gen.close()
    return took, first


@pytest.mark.llm_server
def test_streams_a_reply_and_warms(server: LlamaServer) -> None:
    llm = OpenAiLlm(server.url, MODEL, max_tokens=24)
    llm.warm([PROMPT[0]])
    deltas = list(llm.stream(PROMPT, lambda: False))
    assert len(deltas) >= 3
    assert len("".join(deltas).split()) >= 3
    assert llm.end_of_turn(PROMPT) is None


@pytest.mark.llm_server
def test_health_check_names_url_and_model(server: LlamaServer) -> None:
    with pytest.raises(StageError) as bad_model:
        OpenAiLlm(server.url, "no-such-model")
    assert server.url in str(bad_model.value) and "no-such-model" in str(bad_model.value)
    assert MODEL in str(bad_model.value)  # says what it does serve
    down = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(StageError, match="cannot reach the LLM server at " + down):
        OpenAiLlm(down, MODEL)


@pytest.mark.llm_server
def test_cancel_stops_generation_on_the_server(server: LlamaServer) -> None:
    # min_tokens (a llama-cpp-python extension) keeps the model from ending early.
    long = OpenAiLlm(server.url, MODEL, max_tokens=1000, extra={"min_tokens": 1000})
    short = OpenAiLlm(server.url, MODEL, max_tokens=4, check=False)
    short_alone, _ = _first_token_s(short)

    stop = threading.Event()
    got: list[float] = []
    t0 = time.monotonic()
    for _ in long.stream(PROMPT, stop.is_set):
        got.append(time.monotonic())
        if len(got) == 20:
            stop.set()
    assert len(got) <= 21, "the stream went on after cancellation"
    per_token = (got[-1] - got[0]) / (len(got) - 1)
    left_s = per_token * (1000 - len(got))  # what an un-aborted generation would still take

    waited, first = _first_token_s(short)  # the server lock: served only once the long one stopped
    print(
        f"cancelled after {len(got)} tokens at {per_token * 1000:.1f} ms/token ({left_s:.1f} s left); "
        f"next request's first token {waited * 1000:.0f} ms (alone: {short_alone * 1000:.0f} ms)"
    )
    assert first
    assert waited < short_alone + 1.0, f"next request waited {waited:.2f} s: generation was not aborted"
    assert left_s > 3 * waited, f"inconclusive: {left_s:.2f} s left at {per_token * 1000:.1f} ms/token"
    time.sleep(0.3)
    assert "disconnected" in server.log.read_text().lower()
    assert time.monotonic() - t0 < 20


def test_cancel_unblocks_a_read_that_waits_on_a_silent_server() -> None:
    """A stalled server (no bytes at all) must not hold a cancelled turn: the watchdog shuts the socket."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
        llm = OpenAiLlm(f"http://127.0.0.1:{port}/v1", MODEL, check=False, read_timeout_s=30)
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        t = time.monotonic()
        assert list(llm.stream(PROMPT, stop.is_set)) == []
        assert time.monotonic() - t < 1.0
        for conn in accepted:
            conn.close()


def test_read_timeout_is_a_clear_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        llm = OpenAiLlm(url, MODEL, check=False, read_timeout_s=0.3)
        with pytest.raises(StageError, match="failed mid-reply: timed out") as err:
            list(llm.stream(PROMPT, lambda: False))
        assert url in str(err.value) and MODEL in str(err.value)


@pytest.mark.llm_server
def test_server_death_mid_reply_then_recovery(tmp_path: Path) -> None:
    s = LlamaServer(tmp_path / "server.log")
    s.start()
    try:
        llm = OpenAiLlm(s.url, MODEL, max_tokens=1000, extra={"min_tokens": 1000})
        gen = llm.stream(PROMPT, lambda: False)
        assert next(gen)
        s.kill()
        with pytest.raises(StageError, match=f"LLM server at {s.url}.*mid-reply"):
            for _ in range(2000):
                next(gen)
        with pytest.raises(StageError, match=f"cannot reach the LLM server at {s.url}"):
            list(llm.stream(PROMPT, lambda: False))
        s.start()  # same port: the same backend object just works again
        llm.max_tokens = 8
        llm.extra = {}
        assert "".join(llm.stream(PROMPT, lambda: False)).strip()
    finally:
        s.kill()
