"""`voice-agent talk`: a conversation through this machine's microphone and speakers."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.pcm import SAMPLE_RATE, rms_dbfs
from ..config import SessionConfig
from ..transports.local_audio import AudioDeviceError, LocalAudio, load_sounddevice, resolve_device
from ..transports.terminal_view import STATE_LABELS, QuietView, RichView, TurnLatency, View, latency_summary
from .common import add_model_args, model_config

ECHO_TAIL_S = 0.3  # room echo still arriving after the last sample played
VOICE_WITHIN_DB = 30.0  # a block within this much of the utterance's peak is voice
VOICE_FLOOR_DBFS = -50.0


def register(sub: Any) -> None:
    """Add the `talk` parser."""
    p = sub.add_parser("talk", help="talk with the agent through this machine's microphone and speakers")
    p.add_argument("--input-device", metavar="N|NAME", help="microphone: number or part of the name (default: system)")
    p.add_argument("--output-device", metavar="N|NAME", help="speaker: number or part of the name (default: system)")
    p.add_argument(
        "--headphones", action="store_true", help="no echo guard: the agent can't hear itself, so talk over it freely"
    )
    p.add_argument("--quiet", action="store_true", help="plain lines instead of the live view (for logs and pipes)")
    p.add_argument("--persona", type=Path, help="persona TOML: name, background, speaking style (default: built-in)")
    add_model_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the devices, load the models, talk until Ctrl-C, then print the latency summary."""
    try:
        sd = load_sounddevice()
        audio = LocalAudio(
            sd, resolve_device(sd, args.input_device, "input"), resolve_device(sd, args.output_device, "output"), 22050
        )
        return asyncio.run(_talk(args, audio))
    except AudioDeviceError as exc:
        print(f"voice-agent talk: {exc}", file=sys.stderr)
        return 2


def session_config(headphones: bool, persona: Path | None = None) -> SessionConfig:
    """On speakers the session's echo guard keeps the agent from hearing (and interrupting) itself."""
    from ..persona import load_persona

    return SessionConfig(echo_guard=not headphones, system_prompt=load_persona(persona).system_prompt())


class Talk:
    """The session's sink: plays its audio, shows its events, reports what was heard."""

    def __init__(self, audio: LocalAudio, view: View) -> None:
        self.audio = audio
        self.view = view
        self.session: Any = None
        self.latencies: list[TurnLatency] = []
        self._mark_s: dict[int, float] = {}  # each turn's audio seconds at its last clause end
        self._clauses: dict[int, list[tuple[float, str]]] = {}  # (start second, text) not yet heard
        self._breakdowns: dict[int, dict[str, float]] = {}
        self._heard_first: set[int] = set()
        self._peak = float("-inf")
        self._voice_end: float | None = None  # monotonic time the user's voice was last loud
        audio.on_heard = self._heard

    async def send_audio(self, turn: int, pcm: np.ndarray) -> None:
        """Queue a piece of the reply for the speaker."""
        self.audio.play(turn, pcm)

    async def send_event(self, event: dict[str, Any]) -> None:
        """Show an event, and act on `clear` and `mark`."""
        kind = event.get("type")
        turn = int(event.get("turn", -1))
        if kind == "state":
            self.view.state(STATE_LABELS.get(event["state"], event["state"]))
        elif kind == "transcript":
            if event.get("final"):
                self.view.final(event.get("turn"), event["text"])
            else:
                self.view.partial(event["text"])
        elif kind == "agent_text":
            self._clauses.setdefault(turn, []).append((self._mark_s.get(turn, 0.0), event["text"]))
        elif kind == "mark":
            self._mark_s[turn] = float(event["audio_s"])
            self.audio.clause_end(turn, float(event["audio_s"]))
        elif kind == "latency":
            self._breakdowns[turn] = {k: v for k, v in event.items() if k not in ("type", "turn")}
        elif kind == "clear":  # a pause: `resume` or `interrupted` follows
            self.audio.clear(turn)
        elif kind == "resume":
            self.audio.resume(turn)
        elif kind == "interrupted":
            self._clauses.pop(turn, None)
            self.view.interrupted(turn, str(event.get("heard", "")))
        elif kind == "error":
            self.view.note(f"error {event.get('code')}: {event.get('message')}")

    def _heard(self, turn: int, heard_s: float, at: float) -> None:
        """The speaker has played `heard_s` seconds of `turn` (called at that moment)."""
        if self.session is not None:
            self.session.playback_report(turn, heard_s)
        if turn not in self._heard_first:
            self._heard_first.add(turn)
            first_sound = at - heard_s
            heard_ms = None if self._voice_end is None else round((first_sound - self._voice_end) * 1000.0, 1)
            # Numbered by reply heard, not by the session's turn id (discarded speculative turns use ids too).
            lat = TurnLatency(len(self.latencies) + 1, heard_ms, self._breakdowns.get(turn, {}))
            self.latencies.append(lat)
            self.view.latency(lat)
            self._peak = float("-inf")
        pending = self._clauses.get(turn, [])
        while pending and pending[0][0] <= heard_s:
            self.view.agent_heard(turn, pending.pop(0)[1])

    def _speaking(self) -> bool:
        return self.audio.buffer.buffered() > 0 or time.monotonic() < self.audio.last_sound_t + ECHO_TAIL_S

    async def pump(self) -> None:
        """Feed the microphone to the session, forever."""
        while True:
            at, block = await self.audio.read()
            if not len(block):
                continue
            if not self._speaking():  # the user's last loud block dates their end of speech
                level = rms_dbfs(block)
                self._peak = max(self._peak, level)
                if level >= max(self._peak - VOICE_WITHIN_DB, VOICE_FLOOR_DBFS):
                    self._voice_end = at + len(block) / SAMPLE_RATE
            await self.session.push_audio(block)


async def _talk(args: argparse.Namespace, audio: LocalAudio) -> int:
    from ..models import load_models
    from ..session import Session

    view: View = QuietView() if args.quiet else RichView()
    print("loading models…", file=sys.stderr, flush=True)
    models = load_models(model_config(args))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    talk = Talk(audio, view)
    session = Session(models, talk, session_config(args.headphones, args.persona))
    talk.session = session
    audio.source_rate = session.output_rate
    pump: asyncio.Task[None] | None = None
    try:
        audio.open()
        await session.start()
        guard = "headphones: no echo guard" if args.headphones else "speakers: echo guard on"
        view.start(
            f"mic {audio.in_name!r} {audio.in_rate} Hz → {SAMPLE_RATE} Hz · "
            f"speaker {audio.out_name!r} {session.output_rate} Hz → {audio.out_rate} Hz · {guard}"
        )
        pump = asyncio.create_task(talk.pump())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({pump, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if pump.done():
            pump.result()  # re-raise what ended it
    finally:
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        await session.close()
        audio.close()
        models.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    buf = audio.buffer
    view.stop(
        f"{latency_summary(talk.latencies)}; output underruns {buf.underruns} "
        f"(device {audio.output_underflows}), input overflows {audio.input_overflows}"
    )
    return 0
