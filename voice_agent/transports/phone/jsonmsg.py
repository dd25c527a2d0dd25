"""Shared parsing of the JSON text messages most carriers use."""

from __future__ import annotations

import json
from typing import Any

from .events import BadMessage


def load(message: str | bytes, carrier: str) -> dict[str, Any]:
    """Decode a JSON object message (BadMessage on binary, non-JSON or non-object)."""
    if isinstance(message, bytes):
        raise BadMessage(f"binary frames are not part of the {carrier} protocol")
    try:
        msg = json.loads(message)
    except ValueError as exc:
        raise BadMessage(f"not JSON: {exc}") from exc
    if not isinstance(msg, dict):
        raise BadMessage("not a JSON object")
    return msg


def obj(msg: dict[str, Any], key: str) -> dict[str, Any]:
    """msg[key] as an object ({} when missing; BadMessage when not an object)."""
    value = msg.get(key) or {}
    if not isinstance(value, dict):
        raise BadMessage(f"{key!r} is not an object")
    return value


def dump(msg: dict[str, Any]) -> str:
    """Compact JSON text."""
    return json.dumps(msg, separators=(",", ":"))
