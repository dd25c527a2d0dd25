"""The websocket gateway on fake models: routing, protocol errors, limits, cleanup."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fakes import FakeLlm, fake_models, quiet, tone
from voice_agent.audio.resample import resample
from voice_agent.config import SessionConfig
from voice_agent.transports import protocol as p
from voice_agent.transports.browser import BrowserSink
from voice_agent.transports.gateway import Gateway, GatewayConfig

HELLO = {"type": "hello", "protocol": 1, "sample_rate": 16000, "encoding": "pcm_s16le"}


def config(**kw: Any) -> GatewayConfig:
    return GatewayConfig(port=0, session=SessionConfig(partial_every_ms=0), **kw)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with Gateway(fake_models(), config(max_sessions=2)) as gw:
        yield gw


async def hello(ws: ClientConnection, **kw: Any) -> dict[str, Any]:
    await ws.send(json.dumps({**HELLO, **kw}))
    return await next_event(ws, "ready")


async def next_event(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.recv()
            if isinstance(msg, str) and (event := json.loads(msg))["type"] == kind:
                return event


async def speak(ws: ClientConnection, pcm: np.ndarray, frame: int = 320) -> None:
    for start in range(0, len(pcm), frame):
        await ws.send(pcm[start : start + frame].tobytes())


async def converse(ws: ClientConnection, rate: int = 16000) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Say one fake utterance; collect events and audio samples per turn until the reply is over."""
    pcm = np.concatenate([quiet(300), tone(800), quiet(1200)])
    await speak(ws, resample(pcm, 16000, rate) if rate != 16000 else pcm, rate // 50)
    events: list[dict[str, Any]] = []
    audio: dict[int, int] = {}
    async with asyncio.timeout(10):
        while not any(e["type"] == "mark" for e in events) or events[-1] != {"type": "state", "state": "listening"}:
            msg = await ws.recv()
            if isinstance(msg, bytes):
                turn, samples = p.decode_audio(msg)
                audio[turn] = audio.get(turn, 0) + len(samples)
            else:
                events.append(json.loads(msg))
    return events, audio


def busy_threads() -> set[str]:
    """Threads other than asyncio's idle executor workers."""
    return {t.name for t in threading.enumerate() if not t.name.startswith("asyncio_")}


def http_get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), ""


async def test_page_and_assets_are_served_and_nothing_else(gateway: Gateway) -> None:
    base = f"http://127.0.0.1:{gateway.port}"
    status, body, ctype = await asyncio.to_thread(http_get, base + "/")
    assert status == 200 and b'id="talk"' in body and ctype.startswith("text/html")
    for asset in ("app.js", "capture-worklet.js", "playback-worklet.js", "style.css"):
        status, _, ctype = await asyncio.to_thread(http_get, f"{base}/{asset}")
        assert status == 200 and ctype.startswith(("text/javascript", "text/css")), asset
    for bad in ("/nope.js", "/../pyproject.toml", "/%2e%2e/pyproject.toml"):
        assert (await asyncio.to_thread(http_get, base + bad))[0] == 404
    status, _, _ = await asyncio.to_thread(http_get, base + "/metrics")
    assert status in (200, 404)  # 404 until voice_agent.metrics exists


async def test_one_turn_through_the_protocol_at_48k_both_ways(gateway: Gateway) -> None:
    async with connect(f"ws://127.0.0.1:{gateway.port}/ws") as ws:
        ready = await hello(ws, sample_rate=48000, output_sample_rate=48000)
        assert ready["output_sample_rate"] == 48000 and ready["protocol"] == 1 and ready["session"]
        events, audio = await converse(ws, 48000)
    kinds = [e["type"] for e in events]
    assert {"transcript", "agent_text", "latency", "mark"} <= set(kinds)
    assert list(audio) == [1]
    # FakeTts speaks 0.66 s at 16 kHz; it reaches the client resampled to 48 kHz.
    assert abs(audio[1] - 0.66 * 48000) < 0.01 * 48000
    final = next(e for e in events if e["type"] == "transcript" and e["final"])
    assert final == {"type": "transcript", "final": True, "text": "hello there.", "turn": 1}


async def test_bad_input_gets_errors_and_the_session_goes_on(gateway: Gateway) -> None:
    async with connect(f"ws://127.0.0.1:{gateway.port}/ws") as ws:
        await ws.send(b"\x00\x00")
        assert (await next_event(ws, "error"))["code"] == "hello_first"
        await ws.send(json.dumps({**HELLO, "sample_rate": 7}))
        assert (await next_event(ws, "error"))["code"] == "bad_sample_rate"
        ready = await hello(ws)
        for bad, code in [
            ("{oops", "bad_json"),
            ('{"type":"sing"}', "unknown_type"),
            (b"\x01\x02\x03", "bad_audio"),
            (b"\x00" * (ready["max_frame_bytes"] + 2), "audio_too_large"),
            ('{"type":"text","text":"hello"}', "not_supported"),
            (json.dumps(HELLO), "bad_message"),
        ]:
            await ws.send(bad)
            assert (await next_event(ws, "error"))["code"] == code
        events, audio = await converse(ws)
        assert audio and any(e["type"] == "agent_text" for e in events)
        await ws.send(json.dumps({"type": "playback", "turn": 1, "heard_s": 0.3}))
        await ws.send(json.dumps({"type": "bye"}))
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1000


async def test_origin_and_token_are_checked_before_the_upgrade() -> None:
    async with Gateway(fake_models(), config(token="s3cret", allow_origins=["https://ok.example"])) as gw:
        url = f"ws://127.0.0.1:{gw.port}/ws"
        for kw in ({}, {"additional_headers": {"Authorization": "Bearer wrong"}}):
            with pytest.raises(InvalidStatus) as info:
                await connect(url, **kw)
            assert info.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as info:
            await connect(url + "?token=s3cret", origin="http://evil.example")  # type: ignore[arg-type]
        assert info.value.response.status_code == 403
        same_host = f"http://127.0.0.1:{gw.port}"
        for origin in (same_host, "https://ok.example"):
            async with connect(url + "?token=s3cret", origin=origin) as ws:  # type: ignore[arg-type]
                await hello(ws)
        async with connect(url, additional_headers={"Authorization": "Bearer s3cret"}) as ws:
            await hello(ws)
        status, _, _ = await asyncio.to_thread(http_get, f"http://127.0.0.1:{gw.port}/metrics")
        assert status == 401


async def test_over_the_session_limit_is_refused_and_others_go_on(gateway: Gateway) -> None:
    url = f"ws://127.0.0.1:{gateway.port}/ws"
    async with connect(url) as a, connect(url) as b:
        await hello(a)
        await hello(b)
        async with connect(url) as c:
            event = await next_event(c, "error")
            await asyncio.wait_for(c.wait_closed(), 5)
        assert event["code"] == "busy" and c.close_code == 1013
        for ws in (a, b):
            _, audio = await converse(ws)
            assert audio
    async with asyncio.timeout(5):
        while gateway.active:
            await asyncio.sleep(0.01)
    async with connect(url) as d:  # slots are freed when clients leave
        await hello(d)


async def test_vanished_client_mid_reply_leaves_no_task_or_thread() -> None:
    llm = FakeLlm(reply=" ".join(["word"] * 300), per_token=0.01)
    async with Gateway(fake_models(llm=llm), config()) as gw:
        tasks_before = len(asyncio.all_tasks())
        threads_before = busy_threads()
        ws = await connect(f"ws://127.0.0.1:{gw.port}/ws")
        await hello(ws)
        await speak(ws, np.concatenate([quiet(300), tone(800), quiet(1200)]))
        await next_event(ws, "agent_text")  # the reply is being spoken
        ws.transport.abort()  # no close frame: the client just vanishes
        async with asyncio.timeout(5):
            while gw.active or len(asyncio.all_tasks()) > tasks_before:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert llm.stopped_early.is_set(), "the reply's generation kept running"
        assert busy_threads() <= threads_before


async def test_idle_connection_is_closed() -> None:
    async with Gateway(fake_models(), config(idle_timeout_s=0.3)) as gw:
        async with connect(f"ws://127.0.0.1:{gw.port}/ws") as ws:
            await hello(ws)
            event = await next_event(ws, "error")
            await asyncio.wait_for(ws.wait_closed(), 5)
        assert event["code"] == "idle_timeout" and ws.close_code == 1000


async def test_other_transports_mount_on_the_route_table() -> None:
    seen: list[str] = []

    async def phone(ws: Any, models: Any, cfg: GatewayConfig) -> None:
        seen.append(ws.request.path)
        await ws.send("hi")

    async with Gateway(fake_models(), config()) as gw:
        gw.mount("/phone/{carrier}/stream", phone)
        async with connect(f"ws://127.0.0.1:{gw.port}/phone/acme/stream") as ws:
            assert await ws.recv() == "hi"
        with pytest.raises(InvalidStatus):
            await connect(f"ws://127.0.0.1:{gw.port}/phone/acme/other")
    assert seen == ["/phone/acme/stream"]


class FakeWs:
    def __init__(self) -> None:
        self.sent: list[str | bytes] = []

    async def send(self, message: str | bytes) -> None:
        self.sent.append(message)


async def test_sink_drops_audio_of_a_cleared_turn_until_it_resumes() -> None:
    ws = FakeWs()
    sink = BrowserSink(ws, 16000, 16000)  # type: ignore[arg-type]
    piece = tone(100)
    await sink.send_audio(1, piece)
    await sink.send_event({"type": "clear", "turn": 1})
    await sink.send_audio(1, piece)  # in flight when the clear was decided: must not go out
    await sink.send_audio(2, piece)
    await sink.send_event({"type": "resume", "turn": 1})
    await sink.send_audio(1, piece)
    turns = [p.decode_audio(m)[0] for m in ws.sent if isinstance(m, bytes)]
    assert turns == [1, 2, 1]
    assert [json.loads(m)["type"] for m in ws.sent if isinstance(m, str)] == ["clear", "resume"]


async def test_closed_socket_does_not_break_the_sink() -> None:
    class Gone(FakeWs):
        async def send(self, message: str | bytes) -> None:
            raise ConnectionClosed(None, None)

    sink = BrowserSink(Gone(), 16000, 16000)  # type: ignore[arg-type]
    await sink.send_audio(1, tone(20))
    await sink.send_event({"type": "state", "state": "listening"})
