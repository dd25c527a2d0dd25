"""The level gate: a frame far under the speaker's level is no word, whatever WebRTC's VAD says."""

from __future__ import annotations

import numpy as np
import pytest

from voice_agent.audio.level import LevelGate, SpeechLevel, frame_db
from voice_agent.audio.wav import read_wav
from voice_agent.bench.runner import Clip, true_speech_end
from voice_agent.stages.vad_webrtc import WebRtcVad

FRAME = 320


@pytest.mark.parametrize(
    ("frames", "levels"),
    [
        # (frame dB, voiced) -> level after it: voiced frames lift it at once, it sinks 0.1 dB a frame
        ([(60.0, True), (40.0, True), (40.0, True)], [60.0, 59.9, 59.8]),
        ([(60.0, True), (80.0, False), (55.0, True)], [60.0, 59.9, 59.8]),  # unvoiced noise lifts nothing
        ([(60.0, True), (70.0, True)], [60.0, 70.0]),
    ],
)
def test_level_follows_voiced_peaks_and_sinks(frames: list[tuple[float, bool]], levels: list[float]) -> None:
    level = SpeechLevel()
    got = [level.update(db, voiced) for db, voiced in frames]
    assert got == pytest.approx(levels)


def test_frame_db() -> None:
    assert frame_db(np.zeros(FRAME, dtype=np.int16)) == -200.0
    assert frame_db(np.full(FRAME, 100, dtype=np.int16)) == pytest.approx(40.0)


def _last_voiced_ms_after_true_end(pcm: np.ndarray, gated: bool = True) -> float:
    vad, gate = WebRtcVad(2), LevelGate()
    last = 0
    for i in range(len(pcm) // FRAME):
        frame = pcm[i * FRAME : (i + 1) * FRAME]
        voiced = vad.is_speech(frame)
        if gate.loud(frame, voiced) if gated else voiced:
            last = (i + 1) * FRAME
    return (last - true_speech_end(pcm)) * 1000 / 16000


@pytest.mark.parametrize(
    ("name", "ungated_min_ms"),
    [("clean_librispeech_test-clean_spk260_horizon", 150), ("clean_cmu_cards_004", 200)],
)
def test_room_tail_is_not_speech(clips: dict[str, Clip], name: str, ungated_min_ms: float) -> None:
    """Real clips whose faint tail WebRTC's VAD calls speech: gated, the voice ends with the words."""
    pcm = read_wav(clips[name].path)
    assert _last_voiced_ms_after_true_end(pcm, gated=False) >= ungated_min_ms
    assert -60 <= _last_voiced_ms_after_true_end(pcm) <= 40


def test_soft_endings_stay_speech(clips: dict[str, Clip]) -> None:
    """The gate moves no word's end: on clips with no room tail the last voiced frame stays put."""
    for name in ("clean_cmu_goforward", "clean_librivox_sense_and_sensibility_0880", "clean_cmu_cards_003"):
        pcm = read_wav(clips[name].path)
        assert _last_voiced_ms_after_true_end(pcm) == _last_voiced_ms_after_true_end(pcm, gated=False)
