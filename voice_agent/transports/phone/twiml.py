"""The Twilio voice webhook: one TwiML builder and one signature validator for GET and POST.

Twilio fetches `/phone/twilio/voice` when a call comes in and gets back
`<Connect><Stream>` pointing at our websocket. The stream URL may carry no
query string, so values travel as `<Parameter>`s and come back in
`start.customParameters`. With an auth token configured, every request must
carry a valid `X-Twilio-Signature`: base64(HMAC-SHA1(token, URL + each POST
parameter's name and value, sorted by name)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import quoteattr

from .config import PhoneConfig

VOICE_PATH = "/phone/twilio/voice"
STREAM_PATH = "/phone/twilio/stream"
XML = "text/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

HttpResult = tuple[int, bytes, str]  # (status, body, content type)


def public_base(config: PhoneConfig, headers: Mapping[str, str]) -> str:
    """https://host of the server as the carrier sees it (--public-url, else the Host header)."""
    if config.public_url:
        return config.public_url.rstrip("/")
    proto = headers.get("X-Forwarded-Proto", "https")
    return f"{proto}://{headers.get('Host', 'localhost')}"


def stream_url(base: str, path: str = STREAM_PATH) -> str:
    """The websocket URL for a public base URL (http -> ws, https -> wss)."""
    parts = urlsplit(base)
    scheme = "ws" if parts.scheme == "http" else "wss"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{path}"


def build_twiml(url: str, params: Mapping[str, str]) -> str:
    """`<Response><Connect><Stream url=…><Parameter …/></Stream></Connect></Response>`."""
    inner = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in params.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={quoteattr(url)}>{inner}</Stream></Connect></Response>"
    )


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio computes for a request to `url` with POST `params`."""
    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_ok(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Constant-time check of a request's X-Twilio-Signature."""
    if not signature:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params), signature)


def voice_response(
    method: str,
    path: str,
    headers: Mapping[str, str],
    query: str,
    form: Mapping[str, str],
    config: PhoneConfig,
    gateway_token: str | None = None,
) -> HttpResult:
    """Answer the voice webhook (GET with `query`, or POST with `form`); validates the signature."""
    base = public_base(config, headers)
    signed_url = base + path + (f"?{query}" if query else "")
    signed_params = dict(form) if method == "POST" else {}
    if config.twilio_auth_token:
        if not signature_ok(config.twilio_auth_token, signed_url, signed_params, headers.get("X-Twilio-Signature")):
            return 403, b"bad or missing X-Twilio-Signature\n", TEXT
    elif gateway_token:
        # The stream needs the gateway token; only a signed request may learn it.
        return 403, b"configure the Twilio auth token to use phone calls with a gateway token\n", TEXT
    values = {**dict(parse_qsl(query)), **form}
    params = dict(config.greeting_params)
    for ours, theirs in (("from", "From"), ("to", "To"), ("call_sid", "CallSid")):
        if values.get(theirs):
            params[ours] = values[theirs]
    if gateway_token:
        params["token"] = gateway_token
    return 200, build_twiml(stream_url(base), params).encode(), XML
