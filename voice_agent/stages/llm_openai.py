"""LLM backend for any OpenAI-compatible server (vLLM, llama.cpp's server): streamed chat completions.

Standard library only (http.client). Each reply is one HTTP request whose
response is a server-sent-event stream of deltas. Closing the connection is
how a reply is cancelled: vLLM and llama-cpp-python's server abort generation
when the client goes away, so a discarded speculative reply stops costing the
server at once. A reader blocked waiting for the next token (a long prefill,
a stalled server) is unblocked by a watchdog thread that shuts the socket as
soon as `cancelled()` turns True.

Failures (server down, died mid-reply, HTTP errors) raise StageError naming
the URL; every call opens a fresh connection, so the backend recovers by
itself as soon as the server is back.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from .base import Cancelled, Message, StageError

POLL_S = 0.02  # how often the watchdog polls `cancelled()` while a read blocks


class OpenAiLlm:
    """Llm backend speaking the OpenAI chat-completions protocol over HTTP(S)."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        *,
        max_tokens: int = 48,
        temperature: float = 0.3,
        top_p: float = 0.9,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 30.0,
        extra: dict[str, Any] | None = None,
        check: bool = True,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StageError(f"--llm-url must look like http://host:8000/v1, got {url!r}")
        self.url = url.rstrip("/")
        self.model = model
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.extra = dict(extra or {})  # more request fields, e.g. vLLM's "ignore_eos" or "top_k"
        if check:
            self.check()

    # ---- HTTP ----------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.connect_timeout_s)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise StageError(f"cannot reach the LLM server at {self.url}: {exc}") from exc
        if conn.sock is not None:
            conn.sock.settimeout(self.read_timeout_s)
        return conn

    def _request(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: dict[str, Any] | None = None
    ) -> http.client.HTTPResponse:
        """Send a request and return the response; non-2xx statuses become StageError."""
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, self._base + path, body=data, headers=self._headers)
        resp = conn.getresponse()
        if resp.status // 100 != 2:
            detail = resp.read(500).decode(errors="replace").strip()
            hint = " (check --llm-api-key)" if resp.status in (401, 403) else ""
            raise StageError(
                f"the LLM server at {self.url} answered {resp.status} {resp.reason} for model "
                f"{self.model!r}{hint}: {detail}"
            )
        return resp

    def _fail(self, what: str, exc: BaseException) -> StageError:
        return StageError(f"the LLM server at {self.url} (model {self.model!r}) {what}: {exc or type(exc).__name__}")

    # ---- start-up --------------------------------------------------------------

    def check(self) -> None:
        """Health check: GET /models must answer and list our model."""
        conn = self._connect()
        try:
            resp = self._request(conn, "GET", "/models")
            listing = json.loads(resp.read())
        except StageError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise self._fail("failed its health check (GET /models)", exc) from exc
        finally:
            conn.close()
        ids = [str(m.get("id")) for m in listing.get("data", []) if isinstance(m, dict)]
        if self.model not in ids:
            raise StageError(
                f"the LLM server at {self.url} does not serve model {self.model!r}; "
                f"it serves {ids}: pass one of them as --llm-model"
            )

    def warm(self, messages: list[Message]) -> None:
        """One 1-token completion of the prompt prefix: fills the server's prefix cache."""
        body = {**self._body(messages), "max_tokens": 1, "stream": False}
        conn = self._connect()
        try:
            self._request(conn, "POST", "/chat/completions", body).read()
        except StageError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail("failed to warm up", exc) from exc
        finally:
            conn.close()

    def end_of_turn(self, messages: list[Message]) -> float | None:
        """Unknown over the chat API: the policy falls back to punctuation."""
        return None

    # ---- replies ---------------------------------------------------------------

    def _body(self, messages: list[Message]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stream": True,
            **self.extra,
        }

    def stream(self, messages: list[Message], cancelled: Cancelled) -> Iterator[str]:
        """Yield reply text deltas; once `cancelled()` the connection closes and the server aborts."""
        conn = self._connect()
        watchdog = _Watchdog(conn, cancelled)
        try:
            resp = self._request(conn, "POST", "/chat/completions", self._body(messages))
            for data in _sse_data(resp):
                if cancelled():
                    return
                if data == "[DONE]":
                    return
                delta = _delta(json.loads(data))
                if delta:
                    yield delta
            if not cancelled():
                raise self._fail("failed mid-reply", ConnectionError("the stream ended before [DONE]"))
        except StageError:
            if cancelled():
                return
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if cancelled():  # our own watchdog shut the socket
                return
            raise self._fail("failed mid-reply", exc) from exc
        finally:
            watchdog.stop()
            conn.close()


def _delta(chunk: dict[str, Any]) -> str:
    """The content delta of one streamed chunk; an error chunk raises."""
    if "error" in chunk:
        err = chunk["error"]
        raise StageError(
            f"the LLM server reported an error: {err.get('message', err) if isinstance(err, dict) else err}"
        )
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    content = (choices[0].get("delta") or {}).get("content")
    return content if isinstance(content, str) else ""


def _sse_data(resp: http.client.HTTPResponse) -> Iterator[str]:
    """The `data:` payloads of a server-sent-event stream (comments and other fields skipped)."""
    lines: list[str] = []
    while True:
        raw = resp.readline()
        if not raw:
            return
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:  # a blank line ends an event
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))


class _Watchdog:
    """Shuts a connection's socket once `cancelled()` is True, unblocking a pending read."""

    def __init__(self, conn: http.client.HTTPConnection, cancelled: Cancelled) -> None:
        self._conn = conn
        self._cancelled = cancelled
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llm-http-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(POLL_S):
            if self._cancelled():
                sock = self._conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return

    def stop(self) -> None:
        """End the watchdog (the stream is over)."""
        self._done.set()
