"""The websocket gateway: static files over HTTP, conversations over websockets.

A route table maps websocket paths ("/ws", later "/phone/{carrier}/stream")
to handlers `(websocket, models, config) -> None`; the gateway checks origin,
token and the session limit before any handler runs. Models are loaded once
by the caller and shared by every connection.
"""

from __future__ import annotations

import asyncio
import http
import importlib
import logging
import mimetypes
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..config import SessionConfig
from ..models import Models
from . import protocol as p
from .browser import browser_handler

log = logging.getLogger(__name__)

Handler = Callable[[ServerConnection, Models, "GatewayConfig"], Awaitable[None]]

DEFAULT_WEB_DIR = Path(__file__).resolve().parents[2] / "web"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:",
    "Permissions-Policy": "microphone=(self)",
}


@dataclass
class GatewayConfig:
    """Where to listen and the limits every connection lives under."""

    host: str = "127.0.0.1"
    port: int = 8000
    allow_origins: list[str] = field(default_factory=list)  # besides the server's own host
    token: str | None = None  # required on websockets (?token= or Authorization: Bearer) when set
    max_sessions: int = 4
    max_message_bytes: int = 1 << 20  # hard cap: a bigger message closes the connection (1009)
    max_frame_ms: int = 1000  # audio frames longer than this get an error event
    idle_timeout_s: float = 120.0
    web_dir: Path = DEFAULT_WEB_DIR
    session: SessionConfig = field(default_factory=SessionConfig)


def _compile(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", pattern)
    rx = "".join(re.escape(s) if i % 2 == 0 else f"(?P<{s}>[^/]+)" for i, s in enumerate(parts))
    return re.compile(rx + r"\Z")


class Gateway:
    """Serve `web/`, /metrics and the routed websockets; `async with Gateway(...)` or start()/close()."""

    def __init__(self, models: Models, config: GatewayConfig | None = None) -> None:
        self.models = models
        self.config = config or GatewayConfig()
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.active = 0  # conversations in progress, all routes together
        self.server: Server | None = None
        # Extra GET pages (the phone bridge's TwiML): (path, headers, raw query) -> (status, body, type) | None
        self.http_hook: Callable[[str, Headers, str], tuple[int, bytes, str] | None] | None = None
        self.mount("/ws", browser_handler)

    def mount(self, pattern: str, handler: Handler) -> None:
        """Route websocket connections on `pattern` ({name} matches one path segment) to `handler`."""
        self.routes.append((pattern, _compile(pattern), handler))

    def route(self, path: str) -> Handler | None:
        """The handler for a request path (query string ignored), if any."""
        bare = urlsplit(path).path
        return next((h for _, rx, h in self.routes if rx.match(bare)), None)

    async def start(self) -> None:
        """Listen on the configured address (port 0 picks a free one)."""
        self.server = await serve(
            self._dispatch,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            max_size=self.config.max_message_bytes,
            compression=None,  # PCM does not compress; deflate would only cost CPU
        )

    @property
    def port(self) -> int:
        """The port actually bound."""
        assert self.server is not None, "start() first"
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """http:// address of the page."""
        return f"http://{self.config.host}:{self.port}/"

    async def close(self) -> None:
        """Close every connection (their sessions close with them) and stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- HTTP --------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Static files and /metrics; for websocket routes, the origin and token checks."""
        path = urlsplit(request.path).path
        if self.route(request.path) is not None:
            if not self._origin_ok(request.headers):
                return conn.respond(http.HTTPStatus.FORBIDDEN, "origin not allowed\n")
            # Carriers cannot add a token to the stream URL or headers: the phone
            # bridge checks it itself (a <Parameter> in the TwiML, sent back in `start`).
            if not path.startswith("/phone/") and not self._token_ok(request):
                return conn.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
            return None
        if self.http_hook is not None:
            hit = self.http_hook(path, request.headers, urlsplit(request.path).query)
            if hit is not None:
                return _response(*hit)
        if path == "/metrics":
            if not self._token_ok(request):
                return conn.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
            return self._metrics(conn)
        return self._static(conn, path)

    def _origin_ok(self, headers: Headers) -> bool:
        origin = headers.get("Origin")
        if origin is None:  # not a browser: browsers always send Origin on websockets
            return True
        if origin in self.config.allow_origins:
            return True
        host = headers.get("Host")
        return host is not None and urlsplit(origin).netloc.lower() == host.lower()

    def _token_ok(self, request: Request) -> bool:
        token = self.config.token
        if not token:
            return True
        given = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = auth[7:]
        return secrets.compare_digest(given.encode(), token.encode())

    def _metrics(self, conn: ServerConnection) -> Response:
        try:
            metrics = importlib.import_module("voice_agent.metrics")
        except ModuleNotFoundError:
            return conn.respond(http.HTTPStatus.NOT_FOUND, "metrics are not available\n")
        body, content_type = metrics.render()
        return _response(200, body, content_type)

    def _static(self, conn: ServerConnection, path: str) -> Response:
        root = self.config.web_dir.resolve()
        rel = path.lstrip("/") or "index.html"
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return conn.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        content_type = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return _response(200, target.read_bytes(), content_type)

    # ---- websockets --------------------------------------------------------

    async def _dispatch(self, ws: ServerConnection) -> None:
        handler = self.route(ws.request.path if ws.request else "/")
        if handler is None:  # process_request lets only routed paths through
            await ws.close(1008, "no such route")
            return
        if self.active >= self.config.max_sessions:
            limit = self.config.max_sessions
            try:
                await ws.send(p.encode_event(p.error_event("busy", f"the server is at its limit of {limit} sessions")))
                await ws.close(1013, "too many sessions")
            except ConnectionClosed:
                pass
            return
        self.active += 1
        try:
            await handler(ws, self.models, self.config)
        except asyncio.CancelledError:
            raise
        except Exception:  # one broken conversation must not take the server down
            log.exception("websocket handler failed on %s", ws.request.path if ws.request else "?")
            try:
                await ws.send(p.encode_event(p.error_event("internal", "the server failed; see its log")))
                await ws.close(1011, "internal error")
            except ConnectionClosed:
                pass
        finally:
            self.active -= 1


def _response(status: int, body: bytes, content_type: str) -> Response:
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body)), **PAGE_HEADERS})
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


async def run_gateway(models: Models, config: GatewayConfig, ready: Callable[[Gateway], Any] | None = None) -> None:
    """Serve until cancelled."""
    async with Gateway(models, config) as gateway:
        if ready is not None:
            ready(gateway)
        await asyncio.Future()
