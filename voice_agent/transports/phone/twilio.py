"""Twilio Media Streams: JSON text frames, base64 µ-law at 8 kHz, `streamSid` on every message."""

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


class TwilioAdapter:
    """Twilio's `connected/start/media/mark/dtmf/stop` in; `media/mark/clear` out."""

    name = "twilio"

    def __init__(self) -> None:
        self.rate = 8000
        self.stream_id = ""

    def parse(self, message: str | bytes) -> list[CallEvent]:
        """Decode one message."""
        msg = jsonmsg.load(message, "Twilio")
        kind = msg.get("event")
        if kind == "media":
            media = jsonmsg.obj(msg, "media")
            if media.get("track", "inbound") not in ("inbound", "inbound_track"):
                return [Ignored("media:" + str(media.get("track")))]
            return [Media(g711.ulaw_decode(b64decode(media.get("payload"))))]
        if kind == "mark":
            return [MarkPlayed(str(jsonmsg.obj(msg, "mark").get("name", "")))]
        if kind == "connected":
            return [Connected()]
        if kind == "start":
            return [self._start(msg)]
        if kind == "dtmf":
            return [Dtmf(str(jsonmsg.obj(msg, "dtmf").get("digit", "")))]
        if kind == "stop":
            return [Stop()]
        return [Ignored(str(kind), unknown=True)]

    def _start(self, msg: dict[str, Any]) -> Start:
        start = jsonmsg.obj(msg, "start")
        sid = start.get("streamSid") or msg.get("streamSid")
        if not isinstance(sid, str) or not sid:
            raise BadMessage("start without streamSid")
        fmt = jsonmsg.obj(start, "mediaFormat")
        encoding, rate = fmt.get("encoding", "audio/x-mulaw"), int(fmt.get("sampleRate", 8000))
        if encoding != "audio/x-mulaw" or rate != 8000 or int(fmt.get("channels", 1)) != 1:
            raise UnsupportedCall(f"unsupported media format {fmt!r} (expected audio/x-mulaw 8000 Hz mono)")
        params = jsonmsg.obj(start, "customParameters")
        self.stream_id = sid
        return Start(sid, str(start.get("callSid", "")), rate, {str(k): str(v) for k, v in params.items()})

    def media(self, pcm: np.ndarray) -> str:
        """One 20 ms µ-law frame (raw, no file header)."""
        payload = b64encode(g711.ulaw_encode(pcm))
        return jsonmsg.dump({"event": "media", "streamSid": self.stream_id, "media": {"payload": payload}})

    def mark(self, name: str) -> str:
        """A mark Twilio returns when the audio before it has played (or was cleared)."""
        return jsonmsg.dump({"event": "mark", "streamSid": self.stream_id, "mark": {"name": name}})

    def clear(self) -> str:
        """Drop Twilio's queued audio."""
        return jsonmsg.dump({"event": "clear", "streamSid": self.stream_id})
