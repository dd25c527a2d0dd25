"""The session: the one place that wires VAD, ASR, LLM and TTS together with asyncio.

Audio comes in through `push_audio`; the VAD runs inline (microseconds per
frame), its hysteresis produces events for the pure TurnManager, and the
actions it returns start, release or discard replies. Each reply is a
`ReplyJob` tagged with its turn id: its audio is held until the TurnManager
releases it, and everything it produces after a discard is dropped.

Cancellation contract: `close()` cancels every task of the session and waits
for them; model calls already running in threads stop at their next chunk
(token or clause) and their results are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import metrics
from .audio.echo import EchoGuard
from .audio.level import LevelGate
from .audio.pcm import FRAME_SAMPLES, SAMPLE_RATE, to_float
from .audio.resample import StreamResampler
from .config import SessionConfig
from .core import events as ev
from .core.inputclock import InputClock
from .core.metrics import TurnTimeline
from .core.repeats import CUT_MARK
from .core.turns import TurnManager
from .core.vadgate import VadGate
from .models import Models
from .output import Player
from .priority import Level
from .replies import OutputSink, PauseScore, ReplyJob, ReplyPipeline
from .stages.base import Message

log = logging.getLogger(__name__)


@dataclass
class PartialRun:
    """A partial transcript of the utterance from `start` to `end` (sample indices)."""

    start: int
    end: int
    task: asyncio.Task[str]


class Session(ReplyPipeline):
    """One conversation. Create, `await start()`, `push_audio(...)`, `await close()`."""

    def __init__(
        self,
        models: Models,
        sink: OutputSink,
        config: SessionConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.models = models
        self.sink = sink
        self.config = config or SessionConfig()
        self.clock = clock
        self.output_rate = models.tts.sample_rate
        policy = self.config.policy
        if self.config.mode == "sequential":
            from dataclasses import replace

            policy = replace(policy, speculative=False)
        elif self.config.mode != "streaming":
            raise ValueError(f"unknown mode {self.config.mode!r} (streaming or sequential)")
        self.turns = TurnManager(policy)
        self.gate = VadGate(SAMPLE_RATE, self.config.gate)
        self.vad = models.make_vad(self.config.vad_aggressiveness)
        below = self.config.level_gate_db
        self.level = None if below is None else LevelGate(below)
        self.echo = EchoGuard(SAMPLE_RATE) if self.config.echo_guard else None
        # The echo reference: continuous across pieces (no edge artifacts) and
        # "QQ", which holds nothing back; HQ's tens of ms of lag would make a
        # short echo delay look negative (the echo "before" its source).
        self._reference = StreamResampler(self.output_rate, SAMPLE_RATE, quality="QQ")
        self.input_clock = InputClock(SAMPLE_RATE)  # places the reference on the input's timeline
        self.history: list[Message] = []
        self.timelines: list[TurnTimeline] = []
        self._pending = np.zeros(0, dtype=np.int16)  # input not yet a whole frame
        self._buf: list[np.ndarray] = []  # recent input frames
        self._buf_start = 0  # sample index of _buf[0]
        self._utt_start: int | None = None  # sample index where the utterance begins
        self._jobs: dict[int, ReplyJob] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # events, sent in order
        self._driver: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._partial: PartialRun | None = None
        self._partial_done_at = self._partial_took = 0.0  # when the last partial ended, and how long it took
        self._llm_prefill: asyncio.Task[Any] | None = None
        self._prefill_wanted = False  # cleared by a reply about to score: a prefill not yet begun is skipped
        self._pause_score: PauseScore | None = None
        self._voiced_end = 0  # sample index just after the last frame the VAD called voiced
        self._closed = False

    # ---- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start the deadline driver and announce the session."""
        self._driver = asyncio.create_task(self._drive())
        self._sender = asyncio.create_task(self._send_events())
        self._emit({"type": "state", "state": self.turns.state.value})
        metrics.session_started()

    async def close(self) -> None:
        """Cancel every task of this session and wait for them to end."""
        if self._closed:
            return
        self._closed = True
        if self._sender is not None:
            metrics.session_ended()
        for job in self._jobs.values():
            job.cancelled = True
        partial = self._partial.task if self._partial else None
        tasks = [t for t in (*self._tasks, self._driver, partial) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        # Events already decided (the last state change, an error) still go out.
        while not self._outbox.empty():
            try:
                await asyncio.wait_for(self.sink.send_event(self._outbox.get_nowait()), 1.0)
            except Exception:
                break
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)

    def _emit(self, event: dict[str, Any]) -> None:
        """Queue an event; one task sends them all, in order."""
        if event["type"] == "error":
            metrics.error(str(event.get("code", "unknown")))
        self._outbox.put_nowait(event)

    async def _send_events(self) -> None:
        while True:
            event = await self._outbox.get()
            try:
                await self.sink.send_event(event)
            except Exception as exc:  # a broken transport must not kill the session's loop
                log.warning("could not send %s event: %s", event.get("type"), exc)

    def restart(self) -> None:
        """Forget the conversation (a caller pressed 0): stop any reply, clear history and state."""
        for turn, job in list(self._jobs.items()):
            job.cancelled = True
            if job.task is not None:
                job.task.cancel()
            self._emit({"type": "clear", "turn": turn})
        self._jobs.clear()
        self.history.clear()
        self._end_utterance()
        last_turn = self.turns.turn
        self.turns = TurnManager(self.turns.policy, self.turns.barge_in)
        self.turns.turn = last_turn  # ids keep growing: late results of old turns stay stale
        self._emit({"type": "state", "state": self.turns.state.value})
        self._wake.set()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- input -------------------------------------------------------------

    @property
    def position(self) -> int:
        """Samples of input consumed so far."""
        return self.gate.position

    async def push_audio(self, pcm: np.ndarray) -> None:
        """Feed 16 kHz mono int16 audio of any length (frames of 20 ms are typical)."""
        if self._closed:
            return
        pcm = np.concatenate([self._pending, np.asarray(pcm, dtype=np.int16)])
        whole = len(pcm) // FRAME_SAMPLES * FRAME_SAMPLES
        self._pending = pcm[whole:]
        self.input_clock.observe(self.clock(), self.position + len(pcm))
        for start in range(0, whole, FRAME_SAMPLES):
            self._push_frame(pcm[start : start + FRAME_SAMPLES])
        self._maybe_partial()

    def _push_frame(self, frame: np.ndarray) -> None:
        maybe_user = True
        if self.echo is not None:
            frame, maybe_user = self.echo.process(frame, self.position)
        self._buf.append(frame)
        # The VAD sees every frame, even one the echo guard rules out: its own hangover
        # counts frames, and one left unfed since the user's last sound calls the next
        # frames (digital silence included) speech.
        voiced = self.vad.is_speech(frame) and maybe_user
        # A voiced frame far under the speaker's level (a room tail) is no word: not speech
        # for the gate, and the endpoint counts it only where the words leave the end in doubt.
        loud = voiced if self.level is None else self.level.loud(frame, voiced)
        change = self.gate.push(len(frame), loud)
        if voiced:
            self._voiced_end = self.position  # the VAD's own verdict, faint frames included
        if voiced and not loud:
            self._handle(ev.QuietVoice(self.clock()))
        if self._utt_start is None:
            keep = (self.config.preroll_ms + self.config.gate.start_window_ms + 200) * SAMPLE_RATE // 1000
            while len(self._buf) > 1 and (len(self._buf) - 1) * FRAME_SAMPLES >= keep:
                self._buf.pop(0)
                self._buf_start += FRAME_SAMPLES
        if change is not None:
            t = self.clock() - (self.position - change.at) / SAMPLE_RATE
            if change.blip:
                self._handle(ev.VoiceBlip(t))
            else:
                self._handle(ev.SpeechStarted(t) if change.speech else ev.SpeechEnded(t))

    def _utterance_audio(self) -> np.ndarray:
        if self._utt_start is None or not self._buf:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(self._buf)
        return to_float(audio[max(0, self._utt_start - self._buf_start) :])

    def _maybe_partial(self) -> None:
        """Start a partial transcript every `partial_every_ms` of speech, and one as
        soon as the speech pauses (60 ms): the VAD calls the silence 120 ms after
        the last voiced frame, and the reply prepared then takes that partial as
        its final transcript instead of decoding again.

        Periodic partials only show the user their words, so while the user has
        the floor they wait for idle CPU: with several sessions in a process they
        would otherwise delay other sessions' first audio. The one at a pause is
        first-audio work (the likely final); over the agent's speech every
        partial is, since real words in it confirm a barge-in."""
        listening = self.turns.state is ev.State.USER_SPEAKING or self.turns.overlapping
        if not listening or self._utt_start is None:
            return
        p = self._partial
        if p is not None and not p.task.done():
            return
        covered = p.end if p is not None and p.start == self._utt_start else self._utt_start
        every = self.config.partial_every_ms * SAMPLE_RATE // 1000
        # A pause by the VAD's own verdict (faint frames included, with the level gate on):
        # the transcript at the pause then hears the soft end of the last word too.
        pausing = self.position - self._voiced_end >= SAMPLE_RATE * 60 // 1000 and covered < self._voiced_end
        if not pausing and (not every or self.position - covered < every):
            return
        shown_only = not pausing and not self.turns.overlapping  # it only shows the user their words
        if shown_only and not self.models.priority.idle:
            return  # shed under load; retried on the next frame
        if shown_only and self.clock() - self._partial_done_at < self._partial_took:
            # At most half the time: a long utterance's partial takes ~300 ms here, and
            # back to back one is nearly always running when the user pauses, so the
            # transcript at the pause (the likely final) would have to wait for it.
            return
        level = Level.PARTIAL if shown_only else Level.FIRST_AUDIO
        task = asyncio.create_task(self._run_partial(self._utterance_audio(), level))
        self._partial = PartialRun(self._utt_start, self.position, task)

    async def _run_partial(self, audio: np.ndarray, level: Level) -> str:
        overlap_turn = self.turns.turn if self.turns.overlapping else None
        began = self.clock()
        # Kept as the recogniser returns it: the partial at a pause may serve as the final.
        text: str = await asyncio.to_thread(self._at, level, self.models.asr.transcribe, audio, False)
        self._partial_done_at = self.clock()
        self._partial_took = self._partial_done_at - began
        if overlap_turn is not None:
            said = self._agent_said(overlap_turn)
            self._handle(ev.OverlapWords(self.clock(), overlap_turn, text, final=False, agent_said=said))
        elif text and self.turns.state is ev.State.USER_SPEAKING:
            self._emit({"type": "transcript", "final": False, "text": text})
            if level is Level.PARTIAL:
                self._prefill_llm(text)
            else:
                self._score_at_pause(text)
        return text

    def _score_at_pause(self, text: str) -> None:
        """Score the end of turn on the transcript at the pause, before the VAD calls the silence.

        The pause's partial is usually the final transcript, and it is often in
        before the VAD's end (120 ms after the last voiced frame): the reply then
        finds its p_end (and the LLM's cache filled up to its first token) ready
        instead of waiting 30-60 ms for them. Wasted only if the user goes on.
        """
        if not (self.config.llm_endpointing and self.turns.policy.speculative):
            return
        messages = self._messages(text)
        task = self._spawn(asyncio.to_thread(self._urgently, self.models.llm.end_of_turn, messages))
        self._pause_score = PauseScore(messages, task)

    def _prefill_llm(self, text: str) -> None:
        """Put the words heard so far into the LLM's KV cache while the user still speaks.

        Scoring the end of turn evaluates the prompt up to the user's text; the
        reply prepared at the pause then pays only for the words that changed
        since (measured here: the prefill costs ~4.5 ms a token, 60-150 ms for a
        sentence). Background work: it waits for anything more urgent, and a
        reply about to score skips one not yet begun.
        """
        if not (self.config.llm_endpointing and self.turns.policy.speculative):
            return
        if self._llm_prefill is not None and not self._llm_prefill.done():
            return
        messages = self._messages(text)

        def prefill() -> None:
            if not self._prefill_wanted:
                return
            try:
                self.models.llm.end_of_turn(messages)
            except Exception as exc:  # only a head start: the reply scores again and reports failures
                log.debug("LLM prefill failed: %s", exc)

        self._prefill_wanted = True
        self._llm_prefill = self._spawn(asyncio.to_thread(self._at, Level.PARTIAL, prefill))

    async def _transcribe_overlap(self, turn: int) -> None:
        """The user fell silent while talking over the agent: what did they say?"""
        reuse = self._partial_covering_speech()
        if reuse is not None:
            text = await asyncio.shield(reuse)
        else:
            audio = self._utterance_audio()
            text = str(await asyncio.to_thread(self._urgently, self.models.asr.transcribe, audio, True))
        self._handle(ev.OverlapWords(self.clock(), turn, text, final=True, agent_said=self._agent_said(turn)))

    def _agent_said(self, turn: int) -> str:
        """The reply's words played in the 2.5 s before its output paused (what could echo back)."""
        job = self._jobs.get(turn)
        if job is None or job.paused_at is None:
            return ""
        rate = self.output_rate
        return job.player.track.text_between(job.paused_at - int(2.5 * rate), job.paused_at + rate // 4)

    def _partial_covering_speech(self) -> asyncio.Task[str] | None:
        """The latest partial if it already heard all of the utterance's speech."""
        p = self._partial
        if p is None or p.start != self._utt_start or p.end < self._voiced_end:
            return None
        return p.task

    # ---- the core ----------------------------------------------------------

    def _handle(self, event: ev.Event) -> None:
        for action in self.turns.handle(event):
            self._apply(action)
        holding = self.turns.state in (ev.State.THINKING, ev.State.SPEAKING)
        self.gate.config = self.config.gate_holding_floor if holding else self.config.gate
        self._wake.set()

    def _apply(self, action: ev.Action) -> None:
        if isinstance(action, ev.BeginUtterance):
            at = self.position - int((self.clock() - action.t) * SAMPLE_RATE)
            self._utt_start = max(self._buf_start, at - self.config.preroll_ms * SAMPLE_RATE // 1000)
        elif isinstance(action, ev.PrepareReply):
            self._prepare(action.turn)
        elif isinstance(action, ev.ReleaseReply):
            self._release(action.turn)
        elif isinstance(action, ev.DiscardReply):
            job = self._jobs.pop(action.turn, None)
            if job is not None:
                job.cancelled = True
                if job.task is not None:
                    job.task.cancel()
        elif isinstance(action, ev.PauseOutput):
            self._pause(action.turn)
        elif isinstance(action, ev.ResumeOutput):
            self._resume(action.turn)
        elif isinstance(action, ev.CancelReply):
            self._cancel(action.turn)
        elif isinstance(action, ev.TranscribeOverlap):
            self._spawn(self._transcribe_overlap(action.turn))
        elif isinstance(action, ev.DropUtterance):
            self._end_utterance()
        elif isinstance(action, ev.StateChanged):
            self._emit({"type": "state", "state": action.state.value})

    def _end_utterance(self) -> None:
        self._utt_start = None

    async def _drive(self) -> None:
        """Call the TurnManager back when its next deadline is due."""
        while True:
            self._wake.clear()
            deadline = self.turns.next_deadline()
            if deadline is None:
                await self._wake.wait()
                continue
            delay = deadline - self.clock()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                    continue
                except TimeoutError:
                    pass
            self._handle(ev.Tick(self.clock()))

    # ---- replies -----------------------------------------------------------

    def _prepare(self, turn: int) -> None:
        timeline = TurnTimeline(turn)
        timeline.mark("vad_end", self.clock())
        player = Player(self.output_rate, self.clock, self.config.output_piece_ms, self.config.max_output_lead_s)
        job = ReplyJob(turn, timeline, player=player)
        self._jobs[turn] = job
        self.timelines.append(timeline)
        audio = self._utterance_audio()
        job.voice_end = max(0, len(audio) - (self.gate.position - self.gate.last_voiced_end))
        job.early_final = self._partial_covering_speech() if self.config.mode == "streaming" else None
        run = self._reply_sequential if self.config.mode == "sequential" else self._reply_streaming
        job.task = self._spawn(self._guard(job, run, audio))

    def _release(self, turn: int) -> None:
        job = self._jobs.get(turn)
        if job is None:
            return
        job.timeline.mark("endpoint", self.clock())
        job.released.set()
        self._emit_final(job)
        self._end_utterance()

    def playback_report(self, turn: int, heard_s: float) -> None:
        """A transport reports that the listener has heard `heard_s` seconds of `turn`'s audio.

        Browsers report playback positions, carriers return marks (each mark
        event's `audio_s`). Reports for stale turns are ignored.
        """
        job = self._jobs.get(turn)
        if job is not None and heard_s >= 0:
            job.player.report(heard_s)

    def _pause(self, turn: int) -> None:
        job = self._jobs.get(turn)
        if job is None:
            return
        heard = job.player.pause()
        job.paused_at = heard
        if self.echo is not None:
            # What was already handed over may still be in the transport's or the
            # device's pipeline: its echo can arrive up to max_lag later.
            self.echo.cut_reference(self.position + self.echo.max_lag)
            self._reference.flush()
        self._emit({"type": "clear", "turn": turn})

    def _resume(self, turn: int) -> None:
        job = self._jobs.get(turn)
        if job is not None:
            job.player.resume()
            self._emit({"type": "resume", "turn": turn})

    def _cancel(self, turn: int) -> None:
        """Barge-in: stop the turn everywhere and commit only what was heard."""
        job = self._jobs.pop(turn, None)
        if job is None:
            return
        job.cancelled = True
        if job.task is not None:
            job.task.cancel()
        heard_at = job.paused_at if job.paused_at is not None else job.player.heard_samples()
        heard = job.player.track.heard_text(heard_at)
        job.timeline.reply_text = heard
        job.timeline.interrupted = True
        job.timeline.voiced_text = " ".join(text for text, _, _ in job.player.track.clauses)
        job.timeline.cut_at_s = heard_at / job.player.rate
        self._emit({"type": "interrupted", "turn": turn, "heard": heard})
        if job.user_text:
            self.history.append(Message("user", job.user_text))
            if heard:
                # The dash tells the model it was cut off; the unheard rest is gone.
                self.history.append(Message("assistant", heard + CUT_MARK))

    def _finish(self, job: ReplyJob, failed: str | None = None) -> None:
        """The reply is over: commit what was said and tell the TurnManager."""
        if self._jobs.get(job.turn) is not job:
            return
        del self._jobs[job.turn]
        metrics.observe_turn(job.timeline)
        reply = " ".join(job.spoken)
        job.timeline.reply_text = reply
        if job.user_text:
            self.history.append(Message("user", job.user_text))
            if reply:
                self.history.append(Message("assistant", reply))
        now = self.clock()
        event: ev.Event = ev.ReplyFailed(now, job.turn, failed) if failed else ev.ReplyFinished(now, job.turn)
        self._handle(event)
