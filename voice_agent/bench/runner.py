"""Feed recorded clips to a session in real time and time every turn.

Each clip is one user turn: 0.5 s of silence, the clip in 20 ms frames paced
by the clock, then silence until the agent's reply has played out (or 10 s).
Voice-to-voice latency is the time the first agent audio frame leaves the
session minus the time the frame holding the clip's true end of speech was fed.
"""

from __future__ import annotations

import asyncio
import csv
import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.pcm import FRAME_SAMPLES, SAMPLE_RATE, silence
from ..audio.wav import read_wav, write_wav
from ..config import SessionConfig
from ..core.events import State
from ..models import Models
from ..session import Session

LEAD_IN_MS = 500
MAX_WAIT_AFTER_S = 10.0


@dataclass(frozen=True)
class Clip:
    """One manifest row."""

    name: str
    path: Path
    transcript: str


def read_manifest(manifest: Path, clips_dir: Path | None = None, match: str | None = None) -> list[Clip]:
    """Rows of a TSV manifest with `file` and `transcript` columns, optionally glob-filtered."""
    base = clips_dir or manifest.parent
    clips = []
    with open(manifest, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            file = row.get("file") or ""
            if not file or "transcript" not in row:
                continue
            name = Path(file).stem
            if match and not fnmatch.fnmatch(name, match) and not fnmatch.fnmatch(file, match):
                continue
            path = base / file
            if not path.exists() and clips_dir is not None:
                path = clips_dir / Path(file).name
            clips.append(Clip(name, path, row["transcript"] or ""))
    return clips


def true_speech_end(pcm: np.ndarray, rate: int = SAMPLE_RATE, within_db: float = 35.0) -> int:
    """Sample index after the last 10 ms frame whose RMS is within `within_db` of the loudest."""
    hop = rate // 100
    n = len(pcm) // hop
    if n == 0:
        return 0
    frames = pcm[: n * hop].astype(np.float64).reshape(n, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    peak = float(rms.max())
    if peak <= 0:
        return 0
    loud = np.nonzero(rms >= peak * 10 ** (-within_db / 20.0))[0]
    return int((loud[-1] + 1) * hop)


@dataclass
class BenchSink:
    """Records what a session sends, stamped with the session's clock."""

    clock: Callable[[], float]
    audio: list[tuple[float, int, np.ndarray]] = field(default_factory=list)
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    async def send_audio(self, turn: int, pcm: np.ndarray) -> None:
        """Record one audio piece."""
        self.audio.append((self.clock(), turn, pcm))

    async def send_event(self, event: dict[str, Any]) -> None:
        """Record one event."""
        self.events.append((self.clock(), event))


async def run_clip(
    models: Models,
    clip: Clip,
    config: SessionConfig,
    clock: Callable[[], float] = time.monotonic,
    save_to: Path | None = None,
) -> dict[str, Any]:
    """Play one clip into a fresh session in real time; return its turn record."""
    pcm = read_wav(clip.path)
    sink = BenchSink(clock)
    session = Session(models, sink, config, clock)
    await session.start()
    lead = silence(LEAD_IN_MS)
    stream = np.concatenate([lead, pcm])
    speech_end = len(lead) + true_speech_end(pcm)
    end_frame = max(0, (speech_end - 1) // FRAME_SAMPLES)
    fed_at: dict[int, float] = {}
    t0 = clock()
    i = 0
    clip_frames = -(-len(stream) // FRAME_SAMPLES)
    replied = False
    try:
        while True:
            due = t0 + i * FRAME_SAMPLES / SAMPLE_RATE
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = stream[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] if i < clip_frames else silence(20)
            if len(frame) < FRAME_SAMPLES:
                frame = np.concatenate([frame, silence(20)[: FRAME_SAMPLES - len(frame)]])
            await session.push_audio(frame)
            fed_at[i] = clock()
            i += 1
            if i < clip_frames:
                continue
            replied = replied or any(e.get("type") == "agent_text" for _, e in sink.events)
            idle = session.turns.state is State.LISTENING and not session._jobs  # noqa: SLF001
            if replied and idle:
                break
            if (i - clip_frames) * FRAME_SAMPLES / SAMPLE_RATE >= MAX_WAIT_AFTER_S:
                break
    finally:
        await session.close()
    true_end_t = fed_at.get(end_frame, t0)
    return _record(clip, session, sink, true_end_t, save_to, models.tts.sample_rate)


def _record(
    clip: Clip, session: Session, sink: BenchSink, true_end_t: float, save_to: Path | None, out_rate: int
) -> dict[str, Any]:
    turns = []
    for tl in session.timelines:
        if "endpoint" not in tl.marks:
            continue  # speculative work that was thrown away
        tl.mark("speech_end_true", true_end_t)
        turns.append(tl)
    spoken = [tl for tl in turns if "first_audio_out" in tl.marks]
    first = spoken[0] if spoken else None
    v2v = None if first is None else (first.marks["first_audio_out"] - true_end_t) * 1000.0
    record: dict[str, Any] = {
        "clip": clip.name,
        "reference": clip.transcript,
        "transcript": " ".join(tl.user_text for tl in turns if tl.user_text),
        "reply": " ".join(tl.reply_text for tl in turns if tl.reply_text),
        "voice_to_voice_ms": None if v2v is None else round(v2v, 1),
        "premature": v2v is not None and v2v < 0,
        "replies": len(spoken),
        "discarded_speculations": sum(1 for tl in session.timelines if "endpoint" not in tl.marks),
        "breakdown_ms": first.breakdown_ms("speech_end_true") if first else {},
        "turns": [tl.as_dict() for tl in turns],
    }
    if save_to is not None and sink.audio:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        write_wav(save_to, np.concatenate([a for _, _, a in sink.audio]), out_rate)
    return record
