"""Phone calls through carrier media streams: Twilio, Telnyx, Plivo and Vonage.

`mount_phone_routes(gateway)` adds `/phone/{carrier}/stream` websocket routes
to a Gateway and returns the object whose `twiml_http_response` answers the
Twilio voice webhook for GET requests on the gateway.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .bridge import Observer, PhoneCall
from .config import PhoneConfig
from .events import Adapter
from .twiml import STREAM_PATH, VOICE_PATH, HttpResult, public_base, signature_ok, stream_url, voice_response

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from ...models import Models
    from ..gateway import Gateway, GatewayConfig

__all__ = ["CARRIERS", "PhoneConfig", "PhoneRoutes", "add_phone_args", "mount_phone_routes", "phone_config"]

log = logging.getLogger(__name__)


def _twilio() -> Adapter:
    from .twilio import TwilioAdapter

    return TwilioAdapter()


def _telnyx() -> Adapter:
    from .telnyx import TelnyxAdapter

    return TelnyxAdapter()


def _plivo() -> Adapter:
    from .plivo import PlivoAdapter

    return PlivoAdapter()


def _vonage() -> Adapter:
    from .vonage import VonageAdapter

    return VonageAdapter()


CARRIERS: dict[str, Callable[[], Adapter]] = {"twilio": _twilio, "telnyx": _telnyx, "plivo": _plivo, "vonage": _vonage}


class PhoneRoutes:
    """The phone routes of one gateway: websocket handlers and the TwiML GET hook."""

    def __init__(self, gateway: Gateway, config: PhoneConfig, observer: Observer | None = None) -> None:
        self.gateway = gateway
        self.config = config
        self.observer = observer

    def handler(self, carrier: str) -> Callable[[ServerConnection, Models, GatewayConfig], object]:
        """The websocket handler for one carrier."""
        make = CARRIERS[carrier]

        async def handle(ws: ServerConnection, models: Models, gateway_config: GatewayConfig) -> None:
            if carrier == "twilio" and not self._twilio_handshake_ok(ws):
                log.warning("twilio stream refused: bad or missing X-Twilio-Signature")
                await ws.close(1008, "bad signature")
                return
            await PhoneCall(ws, models, gateway_config, make(), self.config, self.observer).run()

        return handle

    def twiml_http_response(self, path: str, headers: Mapping[str, str], query: str) -> HttpResult | None:
        """Answer a GET on the gateway: TwiML for the voice webhook path, None for any other path.

        `query` is the raw query string (Twilio signs the URL exactly as it called it).
        """
        if path != VOICE_PATH:
            return None
        return voice_response("GET", path, headers, query, {}, self.config, self.gateway.config.token)

    def _twilio_handshake_ok(self, ws: ServerConnection) -> bool:
        token = self.config.twilio_auth_token
        if not token or ws.request is None:
            return True
        base = public_base(self.config, ws.request.headers)
        signature = ws.request.headers.get("X-Twilio-Signature")
        urls = (stream_url(base), base + STREAM_PATH)  # Twilio signs the URL it was given in the TwiML
        return any(signature_ok(token, url, {}, signature) for url in urls)


def mount_phone_routes(
    gateway: Gateway, config: PhoneConfig | None = None, observer: Observer | None = None
) -> PhoneRoutes:
    """Route `/phone/{carrier}/stream` for every carrier on `gateway`; return the routes object."""
    routes = PhoneRoutes(gateway, config or PhoneConfig(), observer)
    for carrier in CARRIERS:
        gateway.mount(f"/phone/{carrier}/stream", routes.handler(carrier))  # type: ignore[arg-type]
    return routes


def add_phone_args(parser: argparse.ArgumentParser) -> None:
    """The serve command's phone flags: --public-url, --webhook-port, --twilio-auth-token."""
    parser.add_argument("--public-url", help="the server's public https:// URL as carriers reach it (for TwiML)")
    parser.add_argument("--webhook-port", type=int, help="also answer Twilio's POST voice webhook on this port")
    parser.add_argument("--twilio-auth-token", help="validate X-Twilio-Signature (default: $TWILIO_AUTH_TOKEN)")


def phone_config(args: argparse.Namespace) -> PhoneConfig:
    """PhoneConfig from the flags added by add_phone_args."""
    config = PhoneConfig(public_url=args.public_url, webhook_port=args.webhook_port)
    if args.twilio_auth_token:
        config.twilio_auth_token = args.twilio_auth_token
    return config
