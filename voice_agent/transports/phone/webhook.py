"""A minimal asyncio HTTP/1.1 listener for the Twilio voice webhook (POST and GET).

The websockets library answers only GET requests, and Twilio's default
webhook method is POST: this listener takes both (one request per
connection, bodies up to 64 KiB, `Connection: close`) and answers with the
same TwiML builder and signature check as the gateway's GET hook.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from .config import PhoneConfig
from .twiml import TEXT, VOICE_PATH, HttpResult, voice_response

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_HEADER_LINES = 100
TIMEOUT_S = 10.0
REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Too Large",
}


class WebhookServer:
    """Serves /phone/twilio/voice over plain HTTP/1.1; `await start()`, `await close()`."""

    def __init__(self, config: PhoneConfig, gateway_token: Callable[[], str | None] = lambda: None) -> None:
        self.config = config
        self.gateway_token = gateway_token
        self.server: asyncio.Server | None = None

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Listen (port 0 picks a free one)."""
        bind_port = self.config.webhook_port if port is None else port
        self.server = await asyncio.start_server(self._serve, host or self.config.webhook_host, bind_port or 0)

    @property
    def port(self) -> int:
        """The port actually bound."""
        assert self.server is not None, "start() first"
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(TIMEOUT_S):
                status, body, content_type = await self._answer(reader)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, UnicodeError):
            status, body, content_type = 400, b"bad request\n", TEXT
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> HttpResult:
        method, target, _version = (await reader.readuntil(b"\r\n")).decode("latin-1").split()
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = (await reader.readuntil(b"\r\n")).decode("latin-1")
            if line == "\r\n":
                break
            name, _, value = line.partition(":")
            headers[name.strip().title()] = value.strip()
        else:
            return 400, b"too many headers\n", TEXT
        length = int(headers.get("Content-Length", "0"))
        if length < 0 or length > MAX_BODY:
            return 413, b"body too large\n", TEXT
        body = await reader.readexactly(length) if length else b""
        parts = urlsplit(target)
        if parts.path != VOICE_PATH:
            return 404, b"not found\n", TEXT
        if method not in ("GET", "POST"):
            return 405, b"GET or POST\n", TEXT
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)) if method == "POST" else {}
        return voice_response(method, parts.path, headers, parts.query, form, self.config, self.gateway_token())
