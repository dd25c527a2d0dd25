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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.pcm import FRAME_SAMPLES, SAMPLE_RATE, loud_windows, silence
from ..audio.wav import read_wav, write_wav
from ..config import SessionConfig
from ..core.events import State
from ..models import Models
from ..session import Session
from .listener import SimulatedListener

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
    loud, hop = loud_windows(pcm, rate, within_db)
    return int((loud[-1] + 1) * hop) if len(loud) else 0


class Mic:
    """Feeds a session in real time: queued user audio (or silence), plus optional echo."""

    def __init__(
        self,
        session: Session,
        listener: SimulatedListener,
        clock: Callable[[], float],
        echo: tuple[float, float] | None = None,  # (delay s, linear gain)
    ) -> None:
        self.session = session
        self.listener = listener
        self.clock = clock
        self.echo = echo
        self._queue = np.zeros(0, dtype=np.int16)
        self.said = 0  # samples queued so far: the next say() starts here
        self.frames = 0
        self.fed_at: list[float] = []
        self._t0: float | None = None

    def say(self, pcm: np.ndarray) -> int:
        """Queue user audio after what is already queued; return its first sample index."""
        start = max(self.said, self.frames * FRAME_SAMPLES)
        gap = start - self.said
        self._queue = np.concatenate([self._queue, silence(gap * 1000 / SAMPLE_RATE), pcm])
        self.said = start + len(pcm)
        return start

    def ask(self, pcm: np.ndarray) -> int:
        """Queue `pcm` after `LEAD_IN_MS` of silence; return the index of its first sample."""
        lead = silence(LEAD_IN_MS)
        return self.say(np.concatenate([lead, pcm])) + len(lead)

    def fed_time(self, sample: int) -> float:
        """When the frame holding input sample `sample` was fed."""
        i = min(max(0, sample // FRAME_SAMPLES), len(self.fed_at) - 1)
        return self.fed_at[i]

    async def run_until(self, done: Callable[[], bool], max_s: float) -> bool:
        """Feed frames in real time until `done()` (True) or `max_s` seconds (False)."""
        if self._t0 is None:
            self._t0 = self.clock()
        stop_at = self.clock() + max_s
        while True:
            if done():
                return True
            if self.clock() >= stop_at:
                return False
            due = self._t0 + self.frames * FRAME_SAMPLES / SAMPLE_RATE
            delay = due - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            start = self.frames * FRAME_SAMPLES
            frame = self._queue[start - (self.said - len(self._queue)) :][:FRAME_SAMPLES]
            frame = np.concatenate([frame, silence(20)[: FRAME_SAMPLES - len(frame)]]).astype(np.float32)
            if self.echo is not None:  # a microphone's samples are captured on a steady clock, however late fed
                frame += self.listener.echo(due, FRAME_SAMPLES, *self.echo)
            await self.session.push_audio(np.clip(frame, -32768, 32767).astype(np.int16))
            self.fed_at.append(self.clock())
            self.frames += 1

    def idle(self) -> bool:
        """True once queued speech is fed and the agent has answered and gone quiet."""
        replied = bool(self.listener.pieces)
        s = self.session
        fed_all = self.frames * FRAME_SAMPLES >= self.said
        return fed_all and replied and s.turns.state is State.LISTENING and not s._jobs  # noqa: SLF001


async def run_clip(
    models: Models,
    clip: Clip,
    config: SessionConfig,
    clock: Callable[[], float] = time.monotonic,
    save_to: Path | None = None,
) -> dict[str, Any]:
    """Play one clip into a fresh session in real time; return its turn record."""
    pcm = read_wav(clip.path)
    listener = SimulatedListener(clock, models.tts.sample_rate)
    session = Session(models, listener, config, clock)
    await session.start()
    mic = Mic(session, listener, clock)
    start = mic.ask(pcm)
    speech_end = start + true_speech_end(pcm)
    try:
        await mic.run_until(lambda: mic.frames * FRAME_SAMPLES >= mic.said, 60.0)
        await mic.run_until(mic.idle, MAX_WAIT_AFTER_S)
    finally:
        await session.close()
    return _record(clip, session, listener, mic.fed_time(speech_end - 1), save_to)


def _record(
    clip: Clip, session: Session, listener: SimulatedListener, true_end_t: float, save_to: Path | None
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
    if save_to is not None and listener.pieces:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        write_wav(save_to, listener.all_audio(), listener.rate)
    return record
