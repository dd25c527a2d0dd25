"""Duplex benchmark scenarios: barge-in, backchannels, hesitations, self-echo.

Each trial is a fresh session fed in real time through `Mic`, with a
`SimulatedListener` playing the agent's output. Interruptions are timed from
the *true onset* of the user's speech (the first 10 ms frame within 35 dB of
the clip's loudest) to the last agent sample the listener heard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.pcm import FRAME_SAMPLES, SAMPLE_RATE, loud_windows, silence, to_float
from ..audio.resample import resample
from ..audio.wav import read_wav
from ..config import SessionConfig
from ..core.policy import EndpointPolicy
from ..models import Models
from ..session import Session
from .cutpoint import words_off
from .listener import SimulatedListener
from .report import percentiles
from .runner import Clip, Mic, true_speech_end

Clock = Callable[[], float]
SCENARIOS = ["barge_in", "backchannel", "hesitation", "echo"]


def default_sounds() -> list[Path]:
    """The bundled backchannel recordings and noise burst."""
    return sorted((Path(__file__).parent / "sounds").glob("*.wav"))


def true_onset(pcm: np.ndarray, within_db: float = 35.0) -> int:
    """Sample index of the first 10 ms frame within `within_db` of the loudest."""
    loud, hop = loud_windows(pcm, SAMPLE_RATE, within_db)
    return int(loud[0] * hop) if len(loud) else 0


async def _start(models: Models, config: SessionConfig, clock: Clock, echo: tuple[float, float] | None = None):  # type: ignore[no-untyped-def]
    listener = SimulatedListener(clock, models.tts.sample_rate)
    session = Session(models, listener, config, clock)
    await session.start()
    return session, listener, Mic(session, listener, clock, echo)


async def _talk_over_reply(
    mic: Mic, listener: SimulatedListener, clock: Clock, first: np.ndarray, second: np.ndarray, offset_s: float
) -> tuple[int, float] | str:
    """Say `first`; place `second` so its true onset lands `offset_s` into the reply; feed until quiet.

    Returns (the reply's turn, the onset's time), or why the trial does not count.
    """
    speech_end = mic.ask(first) + true_speech_end(first)

    def answer() -> int | None:
        """The first reply that began after the question was over (one begun in a pause of it is not)."""
        if mic.frames * FRAME_SAMPLES <= speech_end:
            return None
        over = mic.fed_time(speech_end)
        return next((t for t in listener.turns_heard() if (listener.first_heard(t) or 0.0) >= over), None)

    await mic.run_until(lambda: answer() is not None, 20.0)
    turn = answer()
    started = None if turn is None else listener.first_heard(turn)
    if turn is None or started is None:
        return "no reply"
    lead = true_onset(second) / SAMPLE_RATE
    await mic.run_until(lambda: clock() >= started + offset_s - lead, 10.0)
    onset_sample = mic.say(second) + true_onset(second)
    await mic.run_until(mic.idle, 25.0)
    onset_t = mic.fed_time(onset_sample)
    stop_t = listener.last_heard(turn)
    paused = any(e["turn"] == turn for e in listener.of_type("clear"))
    if not paused and (stop_t is None or stop_t <= onset_t):
        return "the reply was over before the user's sound began"
    return turn, onset_t


async def barge_in_trial(
    models: Models, config: SessionConfig, first: Clip, second: Clip, offset_s: float, clock: Clock
) -> dict[str, Any]:
    """Ask with `first`; `offset_s` into the reply, talk over it with `second`."""
    session, listener, mic = await _start(models, config, clock)
    rec: dict[str, Any] = {"first": first.name, "second": second.name, "offset_s": offset_s}
    try:
        outcome = await _talk_over_reply(mic, listener, clock, read_wav(first.path), read_wav(second.path), offset_s)
        if isinstance(outcome, str):
            return {**rec, "skipped": outcome}
        turn, onset_t = outcome
        stop_t = listener.last_heard(turn)
        interrupted = [e for e in listener.of_type("interrupted") if e["turn"] == turn]
        heard = interrupted[0]["heard"] if interrupted else None
        heard_pcm = resample(listener.heard_audio(turn), listener.rate, SAMPLE_RATE)
        transcript = models.asr.transcribe(to_float(heard_pcm), True)
        timeline = next((tl for tl in session.timelines if tl.turn == turn), None)
        voiced = timeline.voiced_text if timeline else ""
        heard_s = len(listener.heard_audio(turn)) / listener.rate
        cut_at = timeline.cut_at_s if timeline else None
        truth, off = words_off(heard or "", voiced, transcript) if heard is not None else (None, None)
        return {
            **rec,
            "stop_ms": None if stop_t is None else round((stop_t - onset_t) * 1000.0, 1),
            "stopped": bool(interrupted),
            "heard_text": heard,
            "heard_asr": transcript,  # Whisper on the heard audio alone
            "voiced_text": voiced,
            "heard_truth_words": truth,
            "word_diff": off,
            # where the session took the cut to be against what the listener played
            "cut_error_ms": None if cut_at is None else round((cut_at - heard_s) * 1000.0, 1),
            "answered_interruption": any(t != turn for t in listener.turns_heard()),
            "history": [f"{m.role}: {m.content}" for m in session.history],
        }
    finally:
        await session.close()


async def backchannel_trial(
    models: Models, config: SessionConfig, first: Clip, sound: Path, offset_s: float, clock: Clock
) -> dict[str, Any]:
    """Ask with `first`; `offset_s` into the reply, play a backchannel or noise burst."""
    session, listener, mic = await _start(models, config, clock)
    rec: dict[str, Any] = {"first": first.name, "sound": sound.stem, "offset_s": offset_s}
    try:
        outcome = await _talk_over_reply(mic, listener, clock, read_wav(first.path), read_wav(sound), offset_s)
        if isinstance(outcome, str):
            return {**rec, "skipped": outcome}
        turn, _ = outcome
        return {
            **rec,
            "stopped": any(e["turn"] == turn for e in listener.of_type("interrupted")),
            "paused": sum(1 for e in listener.of_type("clear") if e["turn"] == turn),
            "resumed": sum(1 for e in listener.of_type("resume") if e["turn"] == turn),
        }
    finally:
        await session.close()


def split_with_pause(pcm: np.ndarray, pause_ms: int) -> tuple[np.ndarray, int, int]:
    """Insert `pause_ms` of silence at the quietest 30 ms between 35 % and 65 % of the speech.

    Returns the new audio and the sample range of the inserted pause.
    """
    start, end = true_onset(pcm), true_speech_end(pcm)
    lo, hi = start + (end - start) * 35 // 100, start + (end - start) * 65 // 100
    win = SAMPLE_RATE * 30 // 1000
    hop = SAMPLE_RATE // 100
    energies = [
        (float(np.mean(pcm[i : i + win].astype(np.float64) ** 2)), i) for i in range(lo, max(lo + 1, hi - win), hop)
    ]
    cut = min(energies)[1] + win // 2
    gap = silence(pause_ms)
    return np.concatenate([pcm[:cut], gap, pcm[cut:]]), cut, cut + len(gap)


async def hesitation_trial(
    models: Models, config: SessionConfig, clip: Clip, pause_ms: int, clock: Clock
) -> dict[str, Any]:
    """A clip with a pause inserted mid-sentence: does the agent jump in?"""
    session, listener, mic = await _start(models, config, clock)
    pcm, gap_start, gap_end = split_with_pause(read_wav(clip.path), pause_ms)
    try:
        base = mic.ask(pcm)
        await mic.run_until(mic.idle, len(pcm) / SAMPLE_RATE + 12.0)
        turns = listener.turns_heard()
        first = listener.first_heard(turns[0]) if turns else None
        resume_t = mic.fed_time(base + gap_end)
        released = [tl for tl in session.timelines if "endpoint" in tl.marks]
        return {
            "clip": clip.name,
            "pause_ms": pause_ms,
            "premature": first is not None and first < resume_t,
            "replied": first is not None,
            # what the endpoint was decided on, for the first reply released
            "first_endpoint": None
            if not released
            else {
                "text": released[0].user_text,
                "p_end": released[0].p_end,
                "p_done": released[0].p_done,
                "p_stop": released[0].p_stop,
            },
        }
    finally:
        await session.close()


async def echo_trial(
    models: Models, config: SessionConfig, clip: Clip, delay_ms: int, gain_db: float, clock: Clock, max_s: float = 30.0
) -> dict[str, Any]:
    """A normal turn, with the agent's own playout mixed back into the microphone (for at most `max_s`)."""
    echo = (delay_ms / 1000.0, 10 ** (gain_db / 20.0))
    session, listener, mic = await _start(models, config, clock, echo)
    try:
        pcm = read_wav(clip.path)
        first = mic.ask(pcm)
        await mic.run_until(mic.idle, max_s)
        # A clip with long pauses (JFK's) can draw a reply mid-speech that the
        # rest of the speech then interrupts: that is the user, not the echo.
        speech_over = mic.fed_time(first + true_speech_end(pcm))
        clears = [t for t, e in listener.events if e.get("type") == "clear"]
        return {
            "clip": clip.name,
            "delay_ms": delay_ms,
            "gain_db": gain_db,
            "self_interruptions": sum(1 for t in clears if t > speech_over),
            "user_interruptions": sum(1 for t in clears if t <= speech_over),
            "reply_s": round(len(listener.all_audio()) / listener.rate, 2),
        }
    finally:
        await session.close()


async def run_scenarios(
    models: Models, clips: list[Clip], names: list[str], backchannels: list[Path], trials: int,
    config: SessionConfig | None = None, log: Callable[[str], None] = print,
) -> dict[str, Any]:  # fmt: skip
    """Run the named scenarios; return `summary.scenarios`-ready results."""
    config = config or SessionConfig()
    clock = time.monotonic
    out: dict[str, Any] = {}
    picked = clips[:trials]
    if "barge_in" in names:
        rows = []
        for i, clip in enumerate(picked):
            second = clips[(i + 3) % len(clips)]
            rows.append(await barge_in_trial(models, config, clip, second, 1.0 + 1.5 * ((i * 0.37) % 1.0), clock))
            log(f"barge_in    {rows[-1]}")
        done = [r for r in rows if "skipped" not in r]
        stops = [r["stop_ms"] for r in done if r["stopped"] and r["stop_ms"] is not None]
        within = [r for r in done if r.get("word_diff") is not None and r["word_diff"] <= 1]
        out["barge_in"] = {
            "trials": len(rows),
            "skipped": len(rows) - len(done),
            "stopped": sum(1 for r in done if r["stopped"]),
            "stop_ms": percentiles(stops),
            "heard_text_within_one_word": round(len(within) / len(done), 3) if done else None,
            "cut_error_ms": percentiles([abs(r["cut_error_ms"]) for r in done if r.get("cut_error_ms") is not None]),
            "runs": rows,
        }
    if "backchannel" in names:
        rows = []
        for i, sound in enumerate(backchannels):
            clip = picked[i % len(picked)]
            rows.append(await backchannel_trial(models, config, clip, sound, 1.0 + 0.2 * (i % 5), clock))
            log(f"backchannel {rows[-1]}")
        done = [r for r in rows if "skipped" not in r]
        out["backchannel"] = {
            "trials": len(rows),
            "skipped": len(rows) - len(done),
            "stops": sum(1 for r in done if r["stopped"]),
            "pauses": sum(r["paused"] for r in done),
            "runs": rows,
        }
    if "hesitation" in names:
        # The same pauses under three endpointing policies, to see which cue earns its keep.
        fixed = EndpointPolicy(complete_ms=600.0, unknown_ms=600.0, incomplete_ms=600.0)
        variants = {
            "": config,
            "words_only_": replace(config, voice_endpointing=False),
            "punctuation_only_": replace(config, llm_endpointing=False, voice_endpointing=False),
            "fixed_600ms_": replace(config, llm_endpointing=False, voice_endpointing=False, policy=fixed),
        }
        out["hesitation"] = {}
        for prefix, variant in variants.items():
            rows = []
            for i, clip in enumerate(picked):
                rows.append(await hesitation_trial(models, variant, clip, (500, 600, 700)[i % 3], clock))
                log(f"hesitation  {prefix or 'default_'} {rows[-1]}")
            early = sum(1 for r in rows if r["premature"])
            out["hesitation"][f"{prefix}premature_rate"] = round(early / len(rows), 3) if rows else None
            out["hesitation"][f"{prefix}runs"] = rows
        out["hesitation"]["trials"] = len(picked)
    if "echo" in names:
        rows = []
        for i, clip in enumerate(picked):
            delay, gain = (30, 60, 90, 120)[i % 4], (-6.0, -10.0, -14.0, -20.0)[(i // 2) % 4]
            rows.append(await echo_trial(models, config, clip, delay, gain, clock))
            log(f"echo        {rows[-1]}")
        out["echo"] = {
            "trials": len(rows),
            "self_interruptions": sum(r["self_interruptions"] for r in rows),
            "user_interruptions": sum(r["user_interruptions"] for r in rows),  # a reply begun mid-speech
            "runs": rows,
        }
    return out
