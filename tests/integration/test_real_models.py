"""The bundled models on real recorded speech."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from voice_agent.audio.pcm import rms_dbfs, to_float, voiced_span
from voice_agent.audio.resample import resample
from voice_agent.audio.wav import read_wav
from voice_agent.bench.cutpoint import words_off
from voice_agent.bench.runner import Clip, run_clip
from voice_agent.bench.wer import aggregate_wer, wer
from voice_agent.config import SessionConfig
from voice_agent.core.heard import Track
from voice_agent.core.speakable import speakable
from voice_agent.models import Models
from voice_agent.stages.asr_whisper import first_cycle, looks_looped
from voice_agent.stages.base import Message, p_stop_of

pytestmark = pytest.mark.models


def test_asr_transcribes_real_clips(models: Models, clips: dict[str, Clip]) -> None:
    pairs = []
    for clip in clips.values():
        text = models.asr.transcribe(to_float(read_wav(clip.path)), final=True)
        assert not looks_looped(text), text
        pairs.append((clip.transcript, text))
    total = aggregate_wer(pairs)
    assert total <= 0.15, pairs


def test_asr_tells_how_sure_it_is_of_the_final_full_stop(models: Models, clips: dict[str, Clip]) -> None:
    pcm = to_float(read_wav(clips["clean_librispeech_test-clean_spk260_horizon"].path))
    whole = models.asr.transcribe(pcm, final=True)
    assert whole.endswith(".") and 0.5 < (p_stop_of(whole) or 0.0) <= 1.0


def test_asr_retries_a_looping_decode_on_a_wider_window(models: Models, clips: dict[str, Clip]) -> None:
    # The first 1.05 s of "five five": on its 10 s window Whisper tiny says "five" eleven times.
    audio = to_float(read_wav(clips["clean_cmu_cards_004"].path))[:16800]
    text = models.asr.transcribe(audio, final=True)
    assert wer("five five", text) == 0.0, text


def test_asr_keeps_the_first_pass_of_a_looping_phrase(models: Models, clips: dict[str, Clip]) -> None:
    # The first 30 % of "go forward ten meters": on its 10 s window Whisper tiny says "Go for it." over and over.
    pcm = read_wav(clips["clean_cmu_goforward"].path)
    audio = to_float(pcm[: len(pcm) * 3 // 10])
    raw = models.asr._decode(audio)  # type: ignore[attr-defined]
    assert looks_looped(raw), raw
    assert models.asr.transcribe(audio, final=True) == first_cycle(raw) == "Go for it."


def test_asr_gives_nothing_for_silence(models: Models) -> None:
    assert models.asr.transcribe(np.zeros(16000 * 2, dtype=np.float32), final=True) == ""


def test_llm_streams_a_short_reply(models: Models) -> None:
    msgs = [Message("system", "Answer in one short sentence."), Message("user", "What is the capital of France?")]
    deltas = list(models.llm.stream(msgs, lambda: False))
    reply = "".join(deltas).strip()
    assert len(deltas) > 2 and 2 <= len(reply.split()) <= 60
    assert not looks_looped(reply)


def test_llm_decodes_on_spare_cores_while_it_runs_alone(models: Models) -> None:
    contexts = getattr(models.llm, "contexts", [models.llm])
    if not hasattr(contexts[0], "runs_alone"):
        pytest.skip("not the embedded llama.cpp")
    saved = [c.runs_alone for c in contexts]
    seen = []
    msgs = [Message("system", "Answer in one short sentence."), Message("user", "Name a colour.")]
    try:
        for c in contexts:
            c.runs_alone = lambda: True
        for _delta in models.llm.stream(msgs, lambda: False):
            seen.append(max(c._threads_now for c in contexts))
    finally:
        for c, alone in zip(contexts, saved):
            c.runs_alone = alone
    assert seen and set(seen) == {contexts[0].threads_alone}
    assert all(c._threads_now == c.n_threads for c in contexts)  # given back when the reply ends


def test_llm_stops_within_a_token_when_cancelled(models: Models) -> None:
    msgs = [Message("user", "Tell me a long story about a dragon.")]
    seen = []
    flag = {"stop": False}
    for delta in models.llm.stream(msgs, lambda: flag["stop"]):
        seen.append(delta)
        if len(seen) == 3:
            flag["stop"] = True
    assert len(seen) == 3


def test_llm_end_of_turn_tells_finished_from_unfinished(models: Models) -> None:
    system = Message("system", "You are a helpful voice assistant.")
    done = models.llm.end_of_turn([system, Message("user", "Tell me a joke.")])
    not_done = models.llm.end_of_turn([system, Message("user", "I would like to book a table for")])
    assert done is not None and not_done is not None
    assert done > 0.05 > 0.01 > not_done


def test_tts_speaks(models: Models) -> None:
    pcm = models.tts.synthesize("Hello! Nice to meet you.")
    assert models.tts.sample_rate == 22050
    assert 0.8 < len(pcm) / 22050 < 4.0 and rms_dbfs(pcm) > -35


def test_piper_tells_where_each_word_lies(models: Models) -> None:
    rate = models.tts.sample_rate
    text = "Sure, I can help you plan a trip to the mountains."
    pcm, words = models.tts.synthesize_timed(text)  # type: ignore[attr-defined]
    assert words is not None and len(words) == 11, words
    assert all(a < b for a, b in words) and all(b <= a2 for (_, b), (a2, _) in zip(words, words[1:]))
    assert words[-1][1] <= len(pcm)
    pause = pcm[words[0][1] : words[1][0]]  # after "Sure,": Piper's comma pause, silent
    assert len(pause) > 0.15 * rate and rms_dbfs(pause) < rms_dbfs(pcm[words[1][0] : words[-1][1]]) - 20


def test_heard_text_of_a_cut_reply_is_what_whisper_makes_out(models: Models) -> None:
    """The session's word timing against the bench's ruler, on Piper's real audio.

    Piper's timing varies from run to run and Whisper drops or mishears a
    clipped last word now and then (about 1 cut in 10 here), so this catches
    gross errors (a clause's silences or pauses counted as words), not one word.
    """
    rate = models.tts.sample_rate
    within = []
    for text in (
        speakable("Well, I think the war of 1812 ended with a treaty that was signed in Ghent, in Belgium."),
        "Yes, of course; I would say it is about, oh, three hours by car, or a bit more.",
        "Sure, I can help you plan a trip to the mountains next weekend if you like.",
    ):
        pcm, words = models.tts.synthesize_timed(text)  # type: ignore[attr-defined]
        track = Track()
        track.add(text, len(pcm), voiced_span(pcm, rate), words)
        for tenths in range(2, 10):
            cut = len(pcm) * tenths // 10
            transcript = models.asr.transcribe(to_float(resample(pcm[:cut], rate, 16000)), True)
            truth, off = words_off(track.heard_text(cut), text, transcript)
            within.append((off <= 1, tenths, track.heard_text(cut), transcript, truth))
    assert sum(ok for ok, *_ in within) >= 18, [w for w in within if not w[0]]


async def test_whole_turn_on_real_speech(models: Models, clips: dict[str, Clip], tmp_path) -> None:
    # Not clean_cmu_goforward: WebRTC's VAD ends its speech 260 ms before the last loud
    # frame of its soft "...meters", so its first audio lands -26..+52 ms around the
    # true end from run to run, and "premature" is a coin toss there.
    clip = clips["clean_librispeech_test-clean_spk260_horizon"]
    out = tmp_path / "reply.wav"
    rec = await run_clip(models, clip, SessionConfig(), save_to=out)
    assert wer(clip.transcript, rec["transcript"]) <= 0.25, rec["transcript"]
    reply = rec["reply"]
    assert len(reply.split()) >= 2 and not looks_looped(reply), reply
    assert rec["voice_to_voice_ms"] is not None and not rec["premature"]
    audio = read_wav(out, rate=22050)
    assert len(audio) / 22050 > 0.5 and rms_dbfs(audio) > -35
    marks = rec["breakdown_ms"]
    for mark in ("vad_end", "endpoint", "asr_final", "llm_first_token", "first_clause", "first_tts_audio"):
        assert mark in marks, marks
    assert marks["first_audio_out"] == rec["voice_to_voice_ms"]


def test_bench_command_writes_json(tmp_path) -> None:
    from pathlib import Path

    data = Path(__file__).resolve().parent.parent / "data"
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "voice_agent", "bench", "--manifest", str(data / "MANIFEST.tsv"),
         "--match", "clean_librivox*", "--mode", "both", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"streaming: voice-to-voice p50 [\d.]+ ms", proc.stdout)
    import json

    summary = json.loads(out.read_text())["summary"]
    assert summary["turns"] == 1 and summary["voice_to_voice_ms"]["p50"] > 0
    assert summary["sequential_voice_to_voice_ms"]["p50"] > summary["voice_to_voice_ms"]["p50"]
    assert 0.0 <= summary["wer"] <= 0.5
