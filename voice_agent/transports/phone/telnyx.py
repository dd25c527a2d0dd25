"""Telnyx media streaming: like Twilio's, with `stream_id`, snake_case and PCMU/PCMA at 8 kHz."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...audio import g711
from . import jsonmsg
from .events import (
    BadMessage,
    CallEvent,
    Connected,
    Dtmf,
    Ignored,
    MarkPlayed,
    Media,
    Start,
    Stop,
    UnsupportedCall,
    b64decode,
    b64encode,
)

CODECS = {"PCMU": (g711.ulaw_decode, g711.ulaw_encode), "PCMA": (g711.alaw_decode, g711.alaw_encode)}


class TelnyxAdapter:
    """Telnyx `connected/start/media/mark/dtmf/stop` in; `media/mark/clear` out (bidirectional RTP mode)."""

    name = "telnyx"

    def __init__(self) -> None:
        self.rate = 8000
        self.stream_id = ""
        self.codec = "PCMU"

    def parse(self, message: str | bytes) -> list[CallEvent]:
        """Decode one message."""
        msg = jsonmsg.load(message, "Telnyx")
        kind = msg.get("event")
        if kind == "media":
            media = jsonmsg.obj(msg, "media")
            if media.get("track", "inbound") != "inbound":
                return [Ignored("media:" + str(media.get("track")))]
            return [Media(CODECS[self.codec][0](b64decode(media.get("payload"))))]
        if kind == "mark":
            return [MarkPlayed(str(jsonmsg.obj(msg, "mark").get("name", "")))]
        if kind == "start":
            return [self._start(msg)]
        if kind == "connected":
            return [Connected()]
        if kind == "dtmf":
            return [Dtmf(str(jsonmsg.obj(msg, "dtmf").get("digit", "")))]
        if kind == "stop":
            return [Stop()]
        if kind in ("clear", "error"):
            return [Ignored(str(kind))]
        return [Ignored(str(kind), unknown=True)]

    def _start(self, msg: dict[str, Any]) -> Start:
        sid = msg.get("stream_id")
        if not isinstance(sid, str) or not sid:
            raise BadMessage("start without stream_id")
        start = jsonmsg.obj(msg, "start")
        fmt = jsonmsg.obj(start, "media_format")
        encoding, rate = str(fmt.get("encoding", "PCMU")).upper(), int(fmt.get("sample_rate", 8000))
        if encoding not in CODECS or rate != 8000:
            raise UnsupportedCall(f"unsupported media format {fmt!r} (expected PCMU or PCMA at 8000 Hz)")
        self.stream_id, self.codec = sid, encoding
        state = start.get("client_state")
        params = {"client_state": state} if isinstance(state, str) else {}
        for key in ("from", "to"):
            if isinstance(start.get(key), str):
                params[key] = start[key]
        return Start(sid, str(start.get("call_control_id", "")), rate, params)

    def media(self, pcm: np.ndarray) -> str:
        """One 20 ms frame in the call's codec."""
        return jsonmsg.dump({"event": "media", "media": {"payload": b64encode(CODECS[self.codec][1](pcm))}})

    def mark(self, name: str) -> str:
        """A mark Telnyx returns once the audio before it has played."""
        return jsonmsg.dump({"event": "mark", "mark": {"name": name}})

    def clear(self) -> str:
        """Drop Telnyx's queued audio."""
        return jsonmsg.dump({"event": "clear"})
