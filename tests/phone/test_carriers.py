"""Each carrier adapter on a recorded exchange of its messages, then live through a Gateway on fake models."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.fakes import fake_models, quiet, tone
from tests.phone.helpers import Log, until
from voice_agent.audio import g711
from voice_agent.audio.resample import resample
from voice_agent.config import SessionConfig
from voice_agent.transports.gateway import Gateway, GatewayConfig
from voice_agent.transports.phone import CARRIERS, mount_phone_routes
from voice_agent.transports.phone.events import Dtmf, Ignored, MarkPlayed, Media, Start, Stop, UnsupportedCall

pytestmark = pytest.mark.phone


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ULAW_FRAME = b64(g711.ulaw_encode(tone(20, 8000)))
START = {
    "twilio": {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZ01",
        "start": {
            "accountSid": "AC01",
            "streamSid": "MZ01",
            "callSid": "CA01",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"from": "+15550100"},
        },
    },
    "telnyx": {
        "event": "start",
        "sequence_number": "1",
        "stream_id": "32de0dea-53cb",
        "start": {
            "user_id": "3e6f995f",
            "call_control_id": "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
            "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
            "from": "+13122010094",
            "to": "+13122123456",
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        },
    },
    "plivo": {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": "12345678-1234",
            "streamId": "87654321-4321",
            "accountId": "MA01",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
        "extra_headers": "userId=12345;token=",
    },
    "vonage": {"event": "websocket:connected", "content-type": "audio/l16;rate=16000", "caller": "447700900000"},
}

# A short recorded exchange per carrier: what the carrier sends during a call.
RECORDED: dict[str, list[str | bytes]] = {
    "twilio": [
        json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
        json.dumps(START["twilio"]),
        json.dumps({"event": "media", "streamSid": "MZ01", "media": {"track": "inbound", "payload": ULAW_FRAME}}),
        json.dumps({"event": "mark", "streamSid": "MZ01", "mark": {"name": "1:1#1"}}),
        json.dumps({"event": "dtmf", "streamSid": "MZ01", "dtmf": {"track": "inbound_track", "digit": "0"}}),
        json.dumps({"event": "stop", "streamSid": "MZ01", "stop": {"accountSid": "AC01", "callSid": "CA01"}}),
    ],
    "telnyx": [
        json.dumps({"event": "connected", "version": "1.0.0"}),
        json.dumps(START["telnyx"]),
        json.dumps(
            {"event": "media", "stream_id": "32de0dea-53cb", "media": {"track": "inbound", "payload": ULAW_FRAME}}
        ),
        json.dumps({"event": "mark", "stream_id": "32de0dea-53cb", "mark": {"name": "1:1#1"}}),
        json.dumps({"event": "dtmf", "stream_id": "32de0dea-53cb", "dtmf": {"digit": "0"}}),
        json.dumps({"event": "stop", "stream_id": "32de0dea-53cb", "stop": {"call_control_id": "v2:T02"}}),
    ],
    "plivo": [
        json.dumps(START["plivo"]),
        json.dumps(
            {"event": "media", "streamId": "87654321-4321", "media": {"track": "inbound", "payload": ULAW_FRAME}}
        ),
        json.dumps({"event": "playedStream", "streamId": "87654321-4321", "name": "1:1#1"}),
        json.dumps({"event": "dtmf", "streamId": "87654321-4321", "dtmf": {"digit": "0", "track": "inbound"}}),
        json.dumps({"event": "clearedAudio", "streamId": "87654321-4321", "sequenceNumber": 7}),
        json.dumps({"event": "stop", "streamId": "87654321-4321"}),
    ],
    "vonage": [
        json.dumps(START["vonage"]),
        tone(20, 16000).astype("<i2").tobytes(),
        json.dumps({"event": "websocket:notify", "payload": {"name": "1:1#1"}}),
        json.dumps({"event": "websocket:dtmf", "digit": "0", "duration": 250}),
        json.dumps({"event": "websocket:cleared"}),
        json.dumps({"event": "websocket:stopped"}),
    ],
}


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
def test_recorded_exchange(carrier: str) -> None:
    adapter = CARRIERS[carrier]()
    events = [e for m in RECORDED[carrier] for e in adapter.parse(m)]
    kinds = [type(e) for e in events if not isinstance(e, Ignored)]
    start = next(e for e in events if isinstance(e, Start))
    assert start.stream_id and adapter.stream_id == start.stream_id
    media = next(e for e in events if isinstance(e, Media))
    assert len(media.pcm) == adapter.rate // 50 and np.abs(media.pcm).max() > 1000
    assert MarkPlayed("1:1#1") in events and Dtmf("0") in events
    assert kinds.index(Start) < kinds.index(Media)
    if carrier != "vonage":  # Vonage ends by closing the socket
        assert isinstance(events[-1], Stop)
    out = adapter.media(np.zeros(adapter.rate // 50, dtype=np.int16))
    assert isinstance(out, bytes) == (carrier == "vonage")  # Twilio, Telnyx and Plivo take JSON text only
    for message in (adapter.mark("1:1#1"), adapter.clear()):
        assert isinstance(json.loads(message), dict)


def test_unsupported_formats_are_refused() -> None:
    bad = json.loads(json.dumps(START["twilio"]))
    bad["start"]["mediaFormat"]["sampleRate"] = 16000
    with pytest.raises(UnsupportedCall):
        CARRIERS["twilio"]().parse(json.dumps(bad))
    with pytest.raises(UnsupportedCall):
        CARRIERS["vonage"]().parse(json.dumps({"event": "websocket:connected", "content-type": "audio/pcma"}))


# ---- live, through the bridge --------------------------------------------------------------


def inbound(carrier: str, pcm8k: np.ndarray) -> list[str | bytes]:
    """The caller's audio as that carrier sends it, one 20 ms message each."""
    if carrier == "vonage":
        pcm = resample(pcm8k, 8000, 16000)
        return [pcm[i : i + 320].astype("<i2").tobytes() for i in range(0, len(pcm), 320)]
    key = "streamSid" if carrier == "twilio" else "stream_id" if carrier == "telnyx" else "streamId"
    frames = [g711.ulaw_encode(pcm8k[i : i + 160]) for i in range(0, len(pcm8k), 160)]
    return [json.dumps({"event": "media", key: "x", "media": {"payload": b64(f)}}) for f in frames]


def reply_kind(carrier: str, message: str | bytes) -> tuple[str, Any]:
    """('media', n_samples) | ('mark', name) | ('clear', None) | ('other', msg) from an outbound message."""
    if isinstance(message, bytes):
        return ("media", len(message) // 2)
    msg = json.loads(message)
    kind = msg.get("event") or msg.get("action")
    if kind in ("media", "playAudio"):
        return ("media", len(base64.b64decode(msg["media"]["payload"])))
    if kind in ("mark", "notify"):
        return ("mark", msg.get("mark", msg.get("payload", {})).get("name"))
    if kind == "checkpoint":
        return ("mark", msg["name"])
    if kind in ("clear", "clearAudio"):
        return ("clear", None)
    return ("other", msg)


def returned(carrier: str, name: str) -> str:
    """The carrier's message saying the mark `name` has played."""
    if carrier == "plivo":
        return json.dumps({"event": "playedStream", "streamId": "x", "name": name})
    if carrier == "vonage":
        return json.dumps({"event": "websocket:notify", "payload": {"name": name}})
    return json.dumps({"event": "mark", "mark": {"name": name}})


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, Log]]:
    log = Log()
    config = GatewayConfig(port=0, session=SessionConfig(partial_every_ms=0), idle_timeout_s=5)
    async with Gateway(fake_models(), config) as gw:
        mount_phone_routes(gw, observer=log)
        yield gw, log


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
async def test_live_call(carrier: str, gateway: tuple[Gateway, Log]) -> None:
    gw, log = gateway
    ws: ClientConnection
    async with connect(f"ws://127.0.0.1:{gw.port}/phone/{carrier}/stream") as ws:
        for message in RECORDED[carrier][: 2 if carrier != "plivo" and carrier != "vonage" else 1]:
            await ws.send(message)
        for message in inbound(carrier, np.concatenate([quiet(200, 8000), tone(800, 8000), quiet(1200, 8000)])):
            await ws.send(message)
            await asyncio.sleep(0.005)
        media, marks = 0, list[str]()
        async with asyncio.timeout(10):
            while not marks:
                kind, value = reply_kind(carrier, await ws.recv())
                assert kind != "other", value
                if kind == "media":
                    assert value == (320 if carrier == "vonage" else 160)  # samples: one 20 ms frame
                    media += 1
                elif kind == "mark":
                    marks.append(value)
        assert media > 0
        await ws.send(returned(carrier, marks[0]))
        await until(lambda: bool(log.of("heard")))
        assert log.of("heard")[0]["name"] == marks[0]
    await until(lambda: bool(log.of("end")))
    assert not log.of("bad")
