"""The pure parts of the local audio transport: playback buffer, device choice, event handling."""

from __future__ import annotations

import asyncio
import builtins
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from voice_agent.commands.talk import Talk, session_config
from voice_agent.transports.local_audio import (
    AudioDeviceError,
    LocalAudio,
    PlaybackBuffer,
    format_devices,
    list_devices,
    load_sounddevice,
    open_error,
    pick_format,
    resolve_device,
)
from voice_agent.transports.terminal_view import QuietView, TurnLatency, latency_summary


def ramp(n: int, start: int = 0) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


def test_reads_in_order_and_pads_with_silence() -> None:
    buf = PlaybackBuffer()
    buf.write(1, ramp(5))
    buf.write(1, ramp(5, 5))
    out = np.full(4, -1, dtype=np.int16)
    assert buf.read_into(out) == [(1, 4, 0)]
    assert out.tolist() == [0, 1, 2, 3]
    out = np.full(8, -1, dtype=np.int16)
    assert buf.read_into(out) == [(1, 10, 0)]
    assert out.tolist() == [4, 5, 6, 7, 8, 9, 0, 0]
    assert buf.buffered() == 0


def test_clear_drops_a_turn_at_once_and_ignores_its_late_pieces() -> None:
    buf = PlaybackBuffer()
    buf.write(1, ramp(10))
    buf.write(2, ramp(10, 100))
    buf.read_into(np.zeros(3, dtype=np.int16))  # turn 1 is mid-piece
    assert buf.clear(1) == 7
    assert buf.write(1, ramp(10)) is False
    out = np.zeros(12, dtype=np.int16)
    assert buf.read_into(out) == [(2, 10, 0)]
    assert out[:10].tolist() == list(range(100, 110))
    assert buf.underruns == 1  # turn 2 ran dry mid-clause
    assert buf.is_cleared(1) and not buf.is_cleared(2)


def test_running_dry_at_a_clause_end_is_not_an_underrun() -> None:
    buf = PlaybackBuffer()
    buf.write(1, ramp(4))
    buf.end_clause(1)
    buf.read_into(np.zeros(8, dtype=np.int16))
    buf.read_into(np.zeros(8, dtype=np.int16))
    assert buf.underruns == 0
    buf.write(1, ramp(4))  # the next clause, then a late piece: one underrun per gap
    buf.read_into(np.zeros(8, dtype=np.int16))
    buf.read_into(np.zeros(8, dtype=np.int16))
    assert buf.underruns == 1


def test_a_writer_and_a_reader_thread_lose_nothing() -> None:
    buf = PlaybackBuffer()
    sent = (np.arange(200 * 37) % 30000).astype(np.int16)
    got: list[np.ndarray] = []
    done = 0

    def reader() -> None:
        nonlocal done
        while done < len(sent):
            out = np.zeros(50, dtype=np.int16)
            for _, total, _ in buf.read_into(out):
                got.append(out[: total - done].copy())
                done = total

    t = threading.Thread(target=reader)
    t.start()
    for start in range(0, len(sent), 37):
        buf.write(7, sent[start : start + 37])
    t.join(timeout=10)
    assert not t.is_alive()
    assert np.array_equal(np.concatenate(got), sent)
    assert buf.played[7] == len(sent)


class FakeSd:
    """Just enough of sounddevice for device choice: an input-less 'hdmi' and a 'usb mic'."""

    class PortAudioError(Exception):
        pass

    def __init__(self, rates: tuple[int, ...] = (48000, 44100)) -> None:
        self.default = SimpleNamespace(device=[1, 0])
        self.rates = rates
        self.devs = [
            {"name": "hdmi", "index": 0, "hostapi": 0, "max_input_channels": 0, "max_output_channels": 2,
             "default_samplerate": 48000.0},
            {"name": "usb mic", "index": 1, "hostapi": 0, "max_input_channels": 1, "max_output_channels": 0,
             "default_samplerate": 96000.0},
        ]  # fmt: skip

    def query_hostapis(self) -> list[dict[str, Any]]:
        return [{"name": "ALSA"}]

    def query_devices(self, device: Any = None, kind: str | None = None) -> Any:
        if device is None:
            return self.devs
        found = [d for d in self.devs if d["index"] == device or (isinstance(device, str) and device in d["name"])]
        if not found:
            raise ValueError(f"No {kind} device matching {device!r}")
        return found[0]

    def check_input_settings(self, device: int, samplerate: int, channels: int, dtype: str) -> None:
        if samplerate not in self.rates:
            raise self.PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    check_output_settings = check_input_settings


def test_devices_are_listed_with_defaults_marked() -> None:
    text = format_devices(list_devices(FakeSd()))
    assert text.splitlines()[0].startswith(" <") and "hdmi" in text and "48000 Hz" in text
    assert text.splitlines()[1].startswith("> ") and "usb mic" in text


def test_device_choice_by_default_number_and_name() -> None:
    sd = FakeSd()
    assert resolve_device(sd, None, "input") == 1
    assert resolve_device(sd, "usb", "input") == 1
    assert resolve_device(sd, "0", "output") == 0
    with pytest.raises(AudioDeviceError, match="--input-device N") as err:
        resolve_device(sd, "hdmi", "input")
    assert "usb mic" in str(err.value)


def test_no_microphone_at_all_is_explained() -> None:
    sd = FakeSd()
    sd.devs = sd.devs[:1]
    with pytest.raises(AudioDeviceError, match="no input device"):
        resolve_device(sd, None, "input")


def test_an_unsupported_default_rate_falls_back_to_a_supported_one() -> None:
    assert pick_format(FakeSd(), 1, "input") == (48000, 1)
    with pytest.raises(AudioDeviceError, match="accepts none of the rates"):
        pick_format(FakeSd(rates=()), 1, "input")


def test_busy_device_and_missing_portaudio_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = open_error(FakeSd.PortAudioError("Device unavailable [PaErrorCode -9985]"), "usb mic", "input")
    assert "busy" in str(busy) and "--input-device" in str(busy)
    real_import = builtins.__import__

    def no_portaudio(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    with pytest.raises(AudioDeviceError, match="libportaudio2"):
        load_sounddevice()


def test_headphones_turn_the_echo_guard_off() -> None:
    assert session_config(headphones=True).echo_guard is False
    assert session_config(headphones=False).echo_guard is True


class FakeSession:
    def __init__(self) -> None:
        self.reports: list[tuple[int, float]] = []

    def playback_report(self, turn: int, heard_s: float) -> None:
        self.reports.append((turn, heard_s))


def piece(n: int = 2205) -> np.ndarray:
    return np.ones(n, dtype=np.int16)


def hear(audio: LocalAudio, n: int) -> list[tuple[int, int, int]]:
    """The output callback plays `n` samples; returns what its report would be (not yet delivered)."""
    return audio.buffer.read_into(np.zeros(n, dtype=np.int16))


def deliver(audio: LocalAudio, played: list[tuple[int, int, int]]) -> None:
    for turn, samples, epoch in played:
        audio._report(turn, samples / audio.out_rate, 0.0, epoch)  # noqa: SLF001  due at once


async def test_clear_pauses_resume_goes_on_and_interrupted_shows_what_was_heard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    loop = asyncio.get_running_loop()
    audio = LocalAudio(FakeSd(rates=(22050, 48000)), 1, 0, 22050)
    audio.out_rate = 22050  # no resampling: sample counts stay exact
    audio._loop = loop  # noqa: SLF001
    talk = Talk(audio, QuietView())
    talk.session = session = FakeSession()
    await talk.send_audio(3, piece())
    await talk.send_event({"type": "agent_text", "turn": 3, "text": "Hello there."})
    await talk.send_event({"type": "mark", "turn": 3, "name": "3:1", "audio_s": 0.1})
    await talk.send_audio(3, piece())
    await talk.send_event({"type": "agent_text", "turn": 3, "text": "How are you?"})
    deliver(audio, hear(audio, 1103))
    assert session.reports == [(3, pytest.approx(0.05, abs=1e-4))]
    assert [lat.turn for lat in talk.latencies] == [1]  # the first reply heard, whatever its session turn id
    assert capsys.readouterr().out.splitlines()[-1] == "agent: Hello there."
    stale = hear(audio, 1102)  # still on its way to the speaker...

    await talk.send_event({"type": "clear", "turn": 3})  # ...when the user starts talking
    assert audio.buffer.buffered() == 0
    await talk.send_audio(3, piece())  # a late piece of the paused turn
    assert audio.buffer.buffered() == 0
    deliver(audio, stale)  # played before the clear: the session has rewound past it
    assert len(session.reports) == 1

    await talk.send_event({"type": "resume", "turn": 3})  # only a backchannel: play on from 0.05 s
    await talk.send_audio(3, piece(1102))
    played = hear(audio, 1102)
    assert played == [(3, 2205, 1)]  # counted on from the rewind point, not from what was dropped
    deliver(audio, played)
    assert session.reports[-1] == (3, pytest.approx(0.1))
    assert capsys.readouterr().out == "agent: How are you?\n"  # heard only now, at 0.1 s

    await talk.send_event({"type": "mark", "turn": 3, "name": "3:2", "audio_s": 0.2})
    await talk.send_audio(3, piece())
    await talk.send_event({"type": "agent_text", "turn": 3, "text": "Bye."})
    await talk.send_event({"type": "clear", "turn": 3})
    await talk.send_event({"type": "interrupted", "turn": 3, "heard": "Hello there. How"})
    assert capsys.readouterr().out == "agent: (interrupted; you heard 'Hello there. How')\n"


def test_latency_summary() -> None:
    turns = [TurnLatency(1, 800.0, {"first_audio_out": 500.0}), TurnLatency(2, 1000.0, {"first_audio_out": 700.0})]
    assert latency_summary(turns) == (
        "2 turns; heard latency median 900 ms (min 800, max 1000); first audio out 600 ms after the VAD end (median)"
    )
    assert latency_summary([]) == "no turns"
