"""The browser protocol's parser and encoders: tables, and fuzzing with hypothesis."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice_agent.transports import protocol as p


def hello(**kw: object) -> str:
    return json.dumps({"type": "hello", "protocol": 1, "sample_rate": 16000, "encoding": "pcm_s16le", **kw})


def test_hello_and_the_other_client_messages_parse() -> None:
    assert p.parse_client_message(hello()) == p.Hello(1, 16000, "pcm_s16le", None)
    assert p.parse_client_message(hello(sample_rate=48000, output_sample_rate=44100)).output_sample_rate == 44100
    assert p.parse_client_message('{"type":"playback","turn":3,"heard_s":1.25}') == p.Playback(3, 1.25)
    assert p.parse_client_message('{"type":"text","text":"hi"}') == p.Text("hi")
    assert p.parse_client_message('{"type":"bye"}') == p.Bye()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"no": "type"}', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        (hello(protocol=2), "bad_version"),
        (hello(sample_rate=12), "bad_sample_rate"),
        (hello(sample_rate="16000"), "bad_sample_rate"),
        (hello(sample_rate=True), "bad_sample_rate"),
        (hello(output_sample_rate=10**9), "bad_sample_rate"),
        (hello(encoding="opus"), "bad_encoding"),
        ('{"type":"playback","turn":-1,"heard_s":1}', "bad_message"),
        ('{"type":"playback","turn":1,"heard_s":"a"}', "bad_message"),
        ('{"type":"playback","turn":1,"heard_s":-0.5}', "bad_message"),
        ('{"type":"playback","turn":1,"heard_s":NaN}', "bad_message"),
        ('{"type":"text","text":""}', "bad_message"),
    ],
)
def test_malformed_messages_name_their_problem(text: str, code: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_message(text)
    assert info.value.code == code
    event = info.value.event()
    assert event["type"] == "error" and event["code"] == code and event["message"]


def test_audio_frames_are_checked() -> None:
    pcm = np.arange(-160, 160, dtype=np.int16)
    assert np.array_equal(p.parse_audio_frame(pcm.tobytes(), 640), pcm)
    for data, code in [(b"", "bad_audio"), (b"\x00" * 3, "bad_audio"), (b"\x00" * 642, "audio_too_large")]:
        with pytest.raises(p.ProtocolError) as info:
            p.parse_audio_frame(data, 640)
        assert info.value.code == code


def test_server_audio_carries_its_turn() -> None:
    pcm = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    data = p.encode_audio(7, pcm)
    assert data[:4] == b"VA\x01\x01" and len(data) == p.AUDIO_HEADER_BYTES + 10
    turn, back = p.decode_audio(data)
    assert turn == 7 and np.array_equal(back, pcm)
    with pytest.raises(p.ProtocolError):
        p.decode_audio(b"XX" + data[2:])


def test_events_are_compact_json() -> None:
    assert json.loads(p.encode_event({"type": "clear", "turn": 2})) == {"type": "clear", "turn": 2}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "playback", "text", "bye", "x", 1, None])},
    optional={
        "protocol": json_values | st.just(1),
        "sample_rate": json_values | st.integers(0, 200000),
        "output_sample_rate": json_values,
        "encoding": json_values | st.just("pcm_s16le"),
        "turn": json_values,
        "heard_s": json_values,
        "text": json_values,
    },
)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200) | json_values.map(json.dumps) | message_like.map(json.dumps))
def test_fuzz_any_text_parses_or_is_a_protocol_error(text: str) -> None:
    try:
        msg = p.parse_client_message(text)
    except p.ProtocolError as exc:
        assert exc.code and exc.message
        json.dumps(exc.event())
    else:
        assert isinstance(msg, p.Hello | p.Playback | p.Text | p.Bye)
        if isinstance(msg, p.Hello):
            assert p.MIN_RATE <= msg.sample_rate <= p.MAX_RATE


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_any_bytes_are_audio_or_a_protocol_error(data: bytes) -> None:
    try:
        pcm = p.parse_audio_frame(data, 1000)
    except p.ProtocolError as exc:
        assert exc.code in {"bad_audio", "audio_too_large"}
    else:
        assert 0 < len(data) <= 1000 and len(pcm) * 2 == len(data)


@given(st.integers(0, 2**32 - 1), st.lists(st.integers(-32768, 32767), max_size=300))
def test_audio_round_trip(turn: int, samples: list[int]) -> None:
    pcm = np.array(samples, dtype=np.int16)
    got_turn, got = p.decode_audio(p.encode_audio(turn, pcm))
    assert got_turn == turn and np.array_equal(got, pcm)
