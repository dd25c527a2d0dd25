"""The bridge on fake models: pacing, marks vs clear, bad input, DTMF, TwiML over GET and POST."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect

from tests.fakes import fake_models
from tests.phone.helpers import Log, until
from voice_agent.transports.gateway import Gateway, GatewayConfig
from voice_agent.transports.phone import PhoneConfig, mount_phone_routes
from voice_agent.transports.phone.bridge import CarrierSink
from voice_agent.transports.phone.twilio import TwilioAdapter
from voice_agent.transports.phone.twiml import twilio_signature
from voice_agent.transports.phone.webhook import WebhookServer

pytestmark = pytest.mark.phone

START = {
    "event": "start",
    "streamSid": "MZbad",
    "start": {
        "streamSid": "MZbad",
        "callSid": "CA1",
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {},
    },
}


class FakeSession:
    def __init__(self) -> None:
        self.reports: list[tuple[int, float]] = []

    def playback_report(self, turn: int, heard_s: float) -> None:
        self.reports.append((turn, heard_s))


async def test_sink_paces_frames_and_ignores_marks_a_clear_discarded() -> None:
    sent: list[str] = []

    async def send(message: str | bytes) -> None:
        sent.append(str(message))

    adapter = TwilioAdapter()
    adapter.stream_id = "MZ1"
    sink = CarrierSink(adapter, send, 22050, lead_s=0.1)
    session = FakeSession()
    sink.session = session  # type: ignore[assignment]
    pacer = asyncio.create_task(sink.pace())
    try:
        await sink.send_audio(1, np.full(22050, 1000, dtype=np.int16))  # 1 s of audio
        await sink.send_event({"type": "mark", "turn": 1, "name": "1:1", "audio_s": 1.0})
        await asyncio.sleep(0.3)
        media = [json.loads(m) for m in sent if '"media"' in m]
        # Paced: about 0.3 s + the 0.1 s lead went out, in whole 20 ms frames.
        assert 14 <= len(media) <= 24, len(media)
        assert all(len(m["media"]["payload"]) == 216 for m in media)  # base64 of 160 bytes
        await until(lambda: any('"mark"' in m for m in sent), 2.0)
        name = json.loads(next(m for m in sent if '"mark"' in m))["mark"]["name"]
        sink.mark_returned(name)  # turn 1's mark came back: played
        assert session.reports == [(1, 1.0)]
        await sink.send_audio(2, np.full(22050, 1000, dtype=np.int16))
        await sink.send_event({"type": "mark", "turn": 2, "name": "2:1", "audio_s": 1.0})
        await until(lambda: sum('"media"' in m for m in sent) > 55, 2.0)
        await sink.send_event({"type": "clear", "turn": 2})
        before = len(sent)
        await asyncio.sleep(0.1)
        assert json.loads(sent[before - 1])["event"] == "clear" and len(sent) == before  # nothing after it
        assert not sink.queue and not sink.outstanding
    finally:
        pacer.cancel()


async def test_clear_discards_pending_marks() -> None:
    async def send(message: str | bytes) -> None:
        pass

    adapter = TwilioAdapter()
    sink = CarrierSink(adapter, send, 8000, lead_s=10.0)
    session = FakeSession()
    sink.session = session  # type: ignore[assignment]
    pacer = asyncio.create_task(sink.pace())
    try:
        await sink.send_audio(1, np.ones(1600, dtype=np.int16))
        await sink.send_event({"type": "mark", "turn": 1, "name": "1:1", "audio_s": 0.2})
        await until(lambda: bool(sink.outstanding))
        (name,) = sink.outstanding
        await sink.clear(1)
        sink.mark_returned(name)  # Twilio returns it because the clear dropped its audio
        assert session.reports == []
    finally:
        pacer.cancel()


@pytest.fixture
async def gateway() -> Any:
    log = Log()
    config = GatewayConfig(port=0, idle_timeout_s=3, token="s3cret")
    async with Gateway(fake_models(), config) as gw:
        routes = mount_phone_routes(gw, PhoneConfig(public_url="https://agent.example", twilio_auth_token="tok"), log)
        yield gw, log, routes


def media(payload: str) -> str:
    return json.dumps({"event": "media", "streamSid": "MZbad", "media": {"payload": payload}})


async def test_bad_input_is_logged_and_the_call_ends_cleanly(gateway: Any) -> None:
    gw, log, _ = gateway
    url = f"ws://127.0.0.1:{gw.port}/phone/twilio/stream?token=s3cret"
    sig = {"X-Twilio-Signature": twilio_signature("tok", "wss://agent.example/phone/twilio/stream", {})}
    async with connect(url, additional_headers=sig) as ws:
        await ws.send(media("//8="))  # before start
        await ws.send(json.dumps(START))
        await ws.send(media("not base64!"))
        await ws.send(media("/w=="))  # one byte: an odd frame size is still audio
        await ws.send("{not json")
        await ws.send(b"\x00\x01")
        await ws.send(json.dumps({"event": "surprise"}))
        await ws.send(json.dumps({"event": "dtmf", "streamSid": "MZbad", "dtmf": {"digit": "0"}}))
        await ws.send(json.dumps({"event": "stop", "streamSid": "MZbad"}))
        await until(lambda: bool(log.of("end")))
    whys = [b["why"] for b in log.of("bad")]
    assert len(whys) == 4 and "media before start" in whys[0] and "base64" in whys[1], whys
    assert log.of("dtmf") == [{"digit": "0"}]
    assert gw.active == 0
    # A socket that just drops mid-call also ends it, and the gateway goes on serving.
    async with connect(url, additional_headers=sig) as ws:
        await ws.send(json.dumps(START))
        await until(lambda: len(log.of("start")) == 2)
    await until(lambda: len(log.of("end")) == 2)


async def test_stream_refused_without_signature_or_token(gateway: Any) -> None:
    gw, log, _ = gateway
    async with connect(f"ws://127.0.0.1:{gw.port}/phone/twilio/stream?token=s3cret") as ws:
        await until(lambda: ws.close_code is not None or ws.state.name == "CLOSED")
    assert ws.close_code == 1008 and not log.of("start")


async def test_twiml_over_get_hook_and_post_webhook(gateway: Any) -> None:
    gw, _, routes = gateway
    url = "https://agent.example/phone/twilio/voice"
    query = "From=%2B15550100&CallSid=CA9"
    signed = {"X-Twilio-Signature": twilio_signature("tok", f"{url}?{query}", {}), "Host": "x"}
    status, body, ctype = routes.twiml_http_response("/phone/twilio/voice", signed, query)
    assert status == 200 and ctype.startswith("text/xml")
    xml = body.decode()
    assert '<Stream url="wss://agent.example/phone/twilio/stream">' in xml
    assert '<Parameter name="from" value="+15550100"/>' in xml and '<Parameter name="token" value="s3cret"/>' in xml
    assert routes.twiml_http_response("/phone/twilio/voice", {}, query)[0] == 403
    assert routes.twiml_http_response("/elsewhere", {}, "") is None

    server = WebhookServer(routes.config, lambda: gw.config.token)
    await server.start(port=0)
    try:
        form = {"From": "+15550100", "CallSid": "CA9", "To": "+15550199"}
        body_bytes = urllib.parse.urlencode(form).encode()
        sig = twilio_signature("tok", url, form)
        for signature, expected in ((sig, 200), ("bogus", 403)):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"POST /phone/twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                + f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body_bytes)}\r\n\r\n".encode()
                + body_bytes
            )
            response = await reader.read()
            writer.close()
            assert response.startswith(f"HTTP/1.1 {expected}".encode()), response[:80]
            if expected == 200:
                assert b'<Parameter name="to" value="+15550199"/>' in response
    finally:
        await server.close()


def test_signature_matches_a_published_vector() -> None:
    # Test vector from twilio-ruby's request validator spec.
    params = {
        "ToState": "California", "CalledState": "California", "Direction": "inbound", "FromState": "CA",
        "AccountSid": "ACba8bc05eacf94afdae398e642c9cc32d", "Caller": "+14153595711", "CallerZip": "94108",
        "CallerCountry": "US", "From": "+14153595711", "FromCity": "SAN FRANCISCO", "CallerCity": "SAN FRANCISCO",
        "To": "+14157669926", "FromZip": "94108", "FromCountry": "US", "ToCity": "", "CallStatus": "ringing",
        "CalledCity": "", "CallerState": "CA", "CalledZip": "", "ToZip": "", "ToCountry": "US",
        "CallSid": "CA136d09cd59a3c0ec8dbff44da5c03f31", "CalledCountry": "US", "Called": "+14157669926",
        "ApiVersion": "2010-04-01", "ApplicationSid": "AP44efecad51364e80b133bb7c07eb8204",
    }  # fmt: skip
    url = "http://twiliotests.heroku.com/validate/voice"
    assert twilio_signature("2bd9e9638872de601313dc77410d3b23", url, params) == "oVb2kXoVy8GEfwBDjR8bk/ZZ6eA="
