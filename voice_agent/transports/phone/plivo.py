"""Plivo audio streams: `playAudio` out, `checkpoint` -> `playedStream`, `clearAudio` to cut."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...audio import g711
from . import jsonmsg
from .events import (
    BadMessage,
    CallEvent,
    Dtmf,
    Ignored,
    MarkPlayed,
    Media,
    Start,
    Stop,
    UnsupportedCall,
    b64decode,
    b64encode,
    pcm16_from_bytes,
)

MULAW = "audio/x-mulaw"
L16 = "audio/x-l16"


class PlivoAdapter:
    """Plivo `start/media/dtmf/playedStream/clearedAudio/stop` in; `playAudio/checkpoint/clearAudio` out."""

    name = "plivo"

    def __init__(self) -> None:
        self.rate = 8000
        self.stream_id = ""
        self.encoding = MULAW

    def parse(self, message: str | bytes) -> list[CallEvent]:
        """Decode one message."""
        msg = jsonmsg.load(message, "Plivo")
        kind = msg.get("event")
        if kind == "media":
            data = b64decode(jsonmsg.obj(msg, "media").get("payload"))
            return [Media(g711.ulaw_decode(data) if self.encoding == MULAW else pcm16_from_bytes(data))]
        if kind == "playedStream":
            return [MarkPlayed(str(msg.get("name", "")))]
        if kind == "start":
            return [self._start(msg)]
        if kind == "dtmf":
            return [Dtmf(str(jsonmsg.obj(msg, "dtmf").get("digit", "")))]
        if kind == "stop":
            return [Stop()]
        if kind == "clearedAudio":
            return [Ignored(str(kind))]
        return [Ignored(str(kind), unknown=True)]

    def _start(self, msg: dict[str, Any]) -> Start:
        start = jsonmsg.obj(msg, "start")
        sid = start.get("streamId") or msg.get("streamId")
        if not isinstance(sid, str) or not sid:
            raise BadMessage("start without streamId")
        fmt = jsonmsg.obj(start, "mediaFormat")
        encoding, rate = str(fmt.get("encoding", MULAW)), int(fmt.get("sampleRate", 8000))
        if (encoding, rate) not in ((MULAW, 8000), (L16, 8000), (L16, 16000)):
            raise UnsupportedCall(f"unsupported media format {fmt!r}")
        self.stream_id, self.encoding, self.rate = sid, encoding, rate
        return Start(sid, str(start.get("callId", "")), rate, _extra_headers(msg.get("extra_headers")))

    def media(self, pcm: np.ndarray) -> str:
        """One 20 ms frame as a playAudio event."""
        data = g711.ulaw_encode(pcm) if self.encoding == MULAW else pcm.astype("<i2").tobytes()
        media = {"contentType": self.encoding, "sampleRate": self.rate, "payload": b64encode(data)}
        return jsonmsg.dump({"event": "playAudio", "media": media})

    def mark(self, name: str) -> str:
        """A checkpoint Plivo answers with playedStream once the audio before it has played."""
        return jsonmsg.dump({"event": "checkpoint", "streamId": self.stream_id, "name": name})

    def clear(self) -> str:
        """Drop Plivo's queued audio."""
        return jsonmsg.dump({"event": "clearAudio", "streamId": self.stream_id})


def _extra_headers(value: object) -> dict[str, str]:
    """Plivo's `extraHeaders` ("a=1,b=2" or "a=1;b=2") as a dict."""
    if not isinstance(value, str):
        return {}
    pairs = (p.partition("=") for p in value.replace(";", ",").split(","))
    return {k.strip(): v.strip() for k, _, v in pairs if k.strip()}
