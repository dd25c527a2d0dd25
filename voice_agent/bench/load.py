"""Load benchmark: N simulated clients talking to one process at once.

Each client plays recorded clips in real time into its own session (a fresh
session per clip, as the single-client benchmark does), the clients starting
`stagger_s` apart, all sharing one set of models. Per N it reports
voice-to-voice percentiles over every client's turns, output underruns and
the resident memory each extra session costs.

An underrun is a simulated client's playout clock running dry while the reply
was still being produced: a piece of a turn's audio arriving more than
`grace_s` after the audio received before it had finished playing.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from ..audio.pcm import FRAME_SAMPLES, SAMPLE_RATE, silence
from ..audio.wav import read_wav
from ..config import SessionConfig
from ..core.events import State
from ..models import Models
from ..session import Session
from .report import percentiles
from .runner import LEAD_IN_MS, MAX_WAIT_AFTER_S, Clip, true_speech_end

GRACE_S = 0.03  # a small client jitter buffer


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class PlayoutSink:
    """A simulated client: records what a session sends, runs its playout clock, counts underruns."""

    clock: Callable[[], float]
    rate: int = 22050
    audio: list[tuple[float, int, np.ndarray]] = field(default_factory=list)
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    grace_s: float = GRACE_S
    underruns: list[tuple[int, float]] = field(default_factory=list)  # (turn, gap seconds)
    _ends: dict[int, float] = field(default_factory=dict)  # per turn: when its received audio runs out

    async def send_audio(self, turn: int, pcm: np.ndarray) -> None:
        """Record the piece and advance the playout clock."""
        now = self.clock()
        self.audio.append((now, turn, pcm))
        end = self._ends.get(turn)
        if end is not None and now > end + self.grace_s:
            self.underruns.append((turn, now - end))
        start = now if end is None else max(end, now)
        self._ends[turn] = start + len(pcm) / self.rate

    async def send_event(self, event: dict[str, Any]) -> None:
        """Record an event; a clear empties that turn's buffer (its gap is no underrun)."""
        self.events.append((self.clock(), event))
        if event.get("type") == "clear":
            self._ends.pop(int(event.get("turn", -1)), None)


async def play_clip(models: Models, clip: Clip, config: SessionConfig, sink: PlayoutSink) -> dict[str, Any]:
    """Play one clip into a fresh session in real time, as `runner.run_clip` does, into `sink`."""
    clock = sink.clock
    pcm = read_wav(clip.path)
    session = Session(models, sink, config, clock)
    await session.start()
    lead = silence(LEAD_IN_MS)
    stream = np.concatenate([lead, pcm])
    end_frame = max(0, (len(lead) + true_speech_end(pcm) - 1) // FRAME_SAMPLES)
    clip_frames = -(-len(stream) // FRAME_SAMPLES)
    fed_at: dict[int, float] = {}
    t0 = clock()
    i = 0
    try:
        while True:
            delay = t0 + i * FRAME_SAMPLES / SAMPLE_RATE - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = stream[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
            if len(frame) < FRAME_SAMPLES:
                frame = np.concatenate([frame, np.zeros(FRAME_SAMPLES - len(frame), dtype=np.int16)])
            await session.push_audio(frame)
            fed_at[i] = clock()
            i += 1
            if i < clip_frames:
                continue
            replied = any(e.get("type") == "agent_text" for _, e in sink.events)
            if replied and session.turns.state is State.LISTENING and not session._jobs:  # noqa: SLF001
                break
            if (i - clip_frames) * FRAME_SAMPLES / SAMPLE_RATE >= MAX_WAIT_AFTER_S:
                break
    finally:
        await session.close()
    return _record(clip, session, sink, fed_at.get(end_frame, t0))


def _record(clip: Clip, session: Session, sink: PlayoutSink, true_end_t: float) -> dict[str, Any]:
    """One clip's result: voice-to-voice of its first reply, and the client's underruns."""
    released = [tl for tl in session.timelines if "endpoint" in tl.marks]  # speculations thrown away excluded
    spoken = [tl for tl in released if "first_audio_out" in tl.marks]
    for tl in spoken:
        tl.mark("speech_end_true", true_end_t)
    v2v = (spoken[0].marks["first_audio_out"] - true_end_t) * 1000.0 if spoken else None
    return {
        "clip": clip.name,
        "transcript": " ".join(tl.user_text for tl in released if tl.user_text),
        "reply": " ".join(tl.reply_text for tl in released if tl.reply_text),
        "voice_to_voice_ms": None if v2v is None else round(v2v, 1),
        "premature": v2v is not None and v2v < 0,
        "breakdown_ms": spoken[0].breakdown_ms("speech_end_true") if spoken else {},
        "underruns": len(sink.underruns),
        "underrun_ms": round(sum(gap for _, gap in sink.underruns) * 1000.0, 1),
    }


async def _client(
    index: int, models: Models, clips: list[Clip], config: SessionConfig, start_after: float, per_client: int
) -> list[dict[str, Any]]:
    await asyncio.sleep(start_after)
    records = []
    for j in range(per_client):
        clip = clips[(index + j) % len(clips)]
        sink = PlayoutSink(time.monotonic, rate=models.tts.sample_rate)
        rec = await play_clip(models, clip, config, sink)
        rec["client"] = index
        records.append(rec)
    return records


async def _sample(into: list[float], lags: list[float], every: float = 0.05) -> None:
    """Sample RSS and the event loop's lag (how late a timer fires) until cancelled."""
    while True:
        t = time.monotonic()
        await asyncio.sleep(every)
        lags.append(max(0.0, time.monotonic() - t - every))
        into.append(rss_mb())


async def run_load_once(
    models: Models,
    clips: list[Clip],
    sessions: int,
    config: SessionConfig,
    stagger_s: float = 0.7,
    per_client: int = 2,
) -> dict[str, Any]:
    """N clients at once; their records and this N's summary."""
    gc.collect()
    base = rss_mb()
    rss: list[float] = [base]
    lags: list[float] = []
    sampler = asyncio.create_task(_sample(rss, lags))
    t0 = time.monotonic()
    try:
        per = await asyncio.gather(
            *(_client(i, models, clips, config, i * stagger_s, per_client) for i in range(sessions))
        )
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    records = [r for client in per for r in client]
    timed = [r["voice_to_voice_ms"] for r in records if r["voice_to_voice_ms"] is not None and not r["premature"]]
    v2v = percentiles(timed)
    return {
        "sessions": sessions,
        "turns": len(records),
        "voice_to_voice_ms": v2v,
        "no_reply": sum(1 for r in records if r["voice_to_voice_ms"] is None),
        "premature": sum(1 for r in records if r["premature"]),
        "underruns": sum(r["underruns"] for r in records),
        "underrun_ms": round(sum(r["underrun_ms"] for r in records), 1),
        "rss_base_mb": round(base, 1),
        "rss_peak_mb": round(max(rss), 1),
        "rss_mb_per_session": round((max(rss) - base) / sessions, 2),
        "loop_lag_ms": percentiles([lag * 1000.0 for lag in lags]),
        "wall_s": round(time.monotonic() - t0, 1),
        "records": records,
    }


async def run_load(
    models: Models,
    clips: list[Clip],
    counts: list[int],
    config: SessionConfig | None = None,
    stagger_s: float = 0.7,
    per_client: int = 2,
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Run the load benchmark for each N in `counts`; `summary.load` holds the largest N's figures."""
    config = config or SessionConfig()
    loop = asyncio.get_running_loop()
    # Every session can hold a few worker threads at once (an LLM stream waiting on the shared
    # model, a transcript, a synthesis): the default pool (cores + 4) would queue them behind each other.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=8 + 4 * max(counts)))
    by_n = []
    for n in counts:
        result = await run_load_once(models, clips, n, config, stagger_s, per_client)
        by_n.append(result)
        _print_row(out, result)
    load = {k: v for k, v in by_n[-1].items() if k != "records"}
    first = next((r for r in by_n if r["sessions"] == 1), None)
    if first is not None and by_n[-1]["sessions"] > 1:
        extra = by_n[-1]["sessions"] - 1
        load["rss_mb_per_session"] = round(max(0.0, by_n[-1]["rss_peak_mb"] - first["rss_peak_mb"]) / extra, 2)
        load["rss_measure"] = "peak RSS growth from 1 session to N, per extra session"
    else:
        load["rss_measure"] = "peak RSS growth over the idle process, per session"
    load["by_sessions"] = [{k: v for k, v in r.items() if k != "records"} for r in by_n]
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "summary": {"load": load},
        "turns": {str(r["sessions"]): r["records"] for r in by_n},
    }


def _print_row(out: TextIO, r: dict[str, Any]) -> None:
    v = r["voice_to_voice_ms"]
    out.write(
        f"sessions {r['sessions']:2d}: voice-to-voice p50 {v['p50']} ms, p95 {v['p95']} ms over {v['n']} turns; "
        f"underruns {r['underruns']} ({r['underrun_ms']} ms); no reply {r['no_reply']}; "
        f"RSS +{r['rss_mb_per_session']} MB/session (peak {r['rss_peak_mb']} MB); "
        f"loop lag p95 {r['loop_lag_ms']['p95']} ms\n"
    )
    out.flush()


def parse_counts(text: str) -> list[int]:
    """'4' or '1,2,4,6' -> sorted distinct positive session counts."""
    try:
        counts = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        raise ValueError(f"--sessions takes N or a list like 1,2,4,6, got {text!r}")
    return counts
