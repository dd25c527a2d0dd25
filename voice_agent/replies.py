"""Producing a reply: final transcript, LLM stream, clause-by-clause speech, paced output.

A mixin of `Session` (kept apart so each file stays readable): the methods
here run inside a turn's `ReplyJob` task and talk back to the session only
through `_emit` (events), `_handle` (core events) and `_finish`.

Cancellation contract: cancelling a job's task stops its LLM stream within
one token (the thread sees the flag between tokens), drops any clause not yet
synthesised, and sends nothing more of that turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .audio.echo import EchoGuard
from .audio.pcm import SAMPLE_RATE, trim_bounds
from .audio.resample import StreamResampler
from .config import SessionConfig
from .core import events as ev
from .core.chunker import ClauseChunker, ends_mid_sentence
from .core.inputclock import InputClock
from .core.metrics import TurnTimeline
from .core.repeats import OpeningRepeatFilter
from .core.turns import TurnManager
from .core.vadgate import VadGate
from .models import Models
from .output import Player
from .priority import GenerationYield, Level
from .stages.base import Message, StageError, TimedTts, p_stop_of
from .threads import iterate_in_thread

log = logging.getLogger(__name__)

# Unheard audio a reply must have in hand before its later work may wait for
# other replies' first-audio work: its later text (for their first clauses) and
# its later clauses' synthesis. Below it the next clause is needed now.
TEXT_MARGIN_S = 0.8
# Silence after the last voiced frame given to the end-of-turn model: it hears
# more silence as more "done", so a fixed amount keeps its verdict about the voice.
TURN_MODEL_TAIL_MS = 100
APOLOGY = "Sorry, I lost my train of thought. Could you say that again?"
# Silence kept before the first clause's voice, and after a clause cut between words.
FIRST_LEAD_MS = 10
MID_SENTENCE_TAIL_MS = 40


class LlmFailure(StageError):
    """The LLM (embedded or a server) failed while generating a reply."""


class OutputSink(Protocol):
    """Where a session's audio and events go (a transport, or the benchmark)."""

    async def send_audio(self, turn: int, pcm: np.ndarray) -> None:
        """Send int16 mono audio of `turn` at the session's output rate."""
        ...

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send a JSON-ready event ({"type": ...})."""
        ...


@dataclass
class ReplyJob:
    """One reply in flight: its turn id, release gate and tasks."""

    turn: int
    timeline: TurnTimeline
    player: Player  # the turn's audio on its way out
    released: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False
    task: asyncio.Task[None] | None = None
    user_text: str = ""
    spoken: list[str] = field(default_factory=list)  # clauses whose audio has started going out
    paused_at: int | None = None  # sample position heard when the output was paused
    early_final: asyncio.Task[str] | None = None  # a partial that already heard everything
    voice_end: int | None = None  # samples into the turn's audio where the last voiced frame ended
    final_sent: bool = False  # the committed transcript event went out


@dataclass
class PauseScore:
    """The LLM's p_end, being scored at a pause, for exactly these messages."""

    messages: list[Message]
    task: asyncio.Task[float | None]


class ReplyPipeline:
    """The reply half of a Session (a mixin: the session provides the state below)."""

    models: Models
    config: SessionConfig
    clock: Callable[[], float]
    sink: OutputSink
    echo: EchoGuard | None
    gate: VadGate
    turns: TurnManager
    history: list[Message]
    output_rate: int
    _reference: StreamResampler
    input_clock: InputClock
    _llm_prefill: asyncio.Task[Any] | None
    _prefill_wanted: bool
    _pause_score: PauseScore | None  # p_end scored at the pause

    def _emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def _handle(self, event: ev.Event) -> None:
        raise NotImplementedError

    def _finish(self, job: ReplyJob, failed: str | None = None) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        raise NotImplementedError

    def _utterance_audio(self) -> np.ndarray:
        raise NotImplementedError

    def _emit_final(self, job: ReplyJob) -> None:
        """Show the transcript: final once the turn is released (committed), tentative before."""
        if not job.user_text or job.final_sent:
            return
        final = job.released.is_set()
        self._emit({"type": "transcript", "final": final, "text": job.user_text, "turn": job.turn})
        job.final_sent = final

    async def _guard(self, job: ReplyJob, run: Any, audio: np.ndarray) -> None:
        """Run a reply (`run(job, audio)`); turn stage failures into an error event and ReplyFailed.

        The reply's coroutine is made here, not by the caller: a task cancelled
        before it first runs would leave a made coroutine never awaited.
        """
        try:
            await run(job, audio)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("turn %d failed", job.turn)
            llm_down = isinstance(exc, LlmFailure)
            code = "llm_unavailable" if llm_down else "stage_failed"
            self._emit({"type": "error", "code": code, "message": str(exc), "turn": job.turn})
            if llm_down and not job.spoken:
                await job.released.wait()  # a speculative reply: only once the user's turn is over
                await self._apologise(job)
            self._finish(job, failed=str(exc))

    async def _apologise(self, job: ReplyJob) -> None:
        """The LLM failed before we said anything: say so, as a person would, instead of going silent."""
        try:
            pcm = await asyncio.to_thread(self._urgently, self.models.tts.synthesize, APOLOGY)
        except Exception as exc:  # TTS down too: the error event is all we can give
            log.warning("could not speak the apology: %s", exc)
            return
        player = Player(self.output_rate, self.clock, self.config.output_piece_ms, self.config.max_output_lead_s)
        job.player = player
        player.add(APOLOGY, pcm)
        player.finish()
        await self._speak(job)

    def _urgently(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking call while background generation yields the CPU (in a thread)."""
        return self._at(Level.FIRST_AUDIO, fn, *args)

    def _at(self, level: Level, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking call (in a thread) once no more urgent work is pending."""
        with self.models.priority.section(level):
            return fn(*args)

    async def _transcribe_final(self, job: ReplyJob, audio: np.ndarray) -> str:
        text: str | None = None
        if job.early_final is not None:
            try:
                text = await asyncio.shield(job.early_final)
            except Exception:  # the partial failed: decode again below
                text = None
        if text is None:
            fresh: str = await asyncio.to_thread(self._urgently, self.models.asr.transcribe, audio, True)
            text = fresh
        if job.cancelled:
            raise asyncio.CancelledError
        p_stop, text = p_stop_of(text), str(text)
        job.timeline.p_stop = p_stop
        job.user_text = text
        job.timeline.user_text = text
        job.timeline.mark("asr_final", self.clock())
        p_end = p_done = None
        if text:
            self._emit_final(job)
            if self.turns.policy.speculative and self.config.llm_endpointing:
                messages = self._messages(text)
                await self._prefill_finished()
                heard = self.turns.policy.as_heard(text, p_stop)  # as the endpoint will read it
                voice = self._start_voice_done(job, audio, heard)
                try:
                    p_end = await self._end_of_turn(messages)
                    job.timeline.p_end = p_end
                    if job.cancelled:
                        raise asyncio.CancelledError
                except BaseException:
                    if voice is not None:  # it runs on in its thread; nobody will read it
                        voice.add_done_callback(_ignore_result)
                    raise
                p_done = await self._voice_done(job, voice, heard, p_end)
                job.timeline.mark("turn_scored", self.clock())
        self._handle(ev.TranscriptFinal(self.clock(), job.turn, text, p_end, p_done, p_stop))
        return text

    async def _end_of_turn(self, messages: list[Message]) -> float | None:
        """The LLM's p_end for these messages: the one scored at the pause if it was for them."""
        ahead, self._pause_score = self._pause_score, None
        if ahead is not None and ahead.messages == messages:
            try:
                p_end = await asyncio.shield(ahead.task)
            except Exception:  # scored again below, where a failure is reported
                p_end = None
            if p_end is not None:
                return p_end
        return await asyncio.to_thread(self._urgently, self.models.llm.end_of_turn, messages)

    async def _prefill_finished(self) -> None:
        """Let a prefill of the user's words that already runs finish (its tokens are this
        turn's too); skip one still waiting to start."""
        self._prefill_wanted = False
        if self._llm_prefill is not None and not self._llm_prefill.done():
            await asyncio.gather(asyncio.shield(self._llm_prefill), return_exceptions=True)

    def _start_voice_done(self, job: ReplyJob, audio: np.ndarray, text: str) -> asyncio.Task[float] | None:
        """Start the end-of-turn model now if the words alone leave the end in doubt.

        It runs on the core the LLM's scoring leaves free (llama.cpp uses one
        thread); once p_end is in, `_voice_done` decides whether its verdict counts.
        """
        model = self.models.turn_model
        if model is None or not self.config.voice_endpointing or job.voice_end is None:
            return None
        if not self.turns.policy.voice_may_shorten(text, None):
            return None
        end = job.voice_end + TURN_MODEL_TAIL_MS * SAMPLE_RATE // 1000
        if len(audio) < end:
            # The reply was prepared before the tail was heard (a VAD end under 100 ms):
            # take what has come in since; short of the tail, the rest is digital silence.
            audio = max(audio, self._utterance_audio(), key=len)
        voice = np.pad(audio[:end], (0, max(0, end - len(audio))))
        return asyncio.create_task(asyncio.to_thread(self._urgently, model.p_done, voice))

    async def _voice_done(
        self, job: ReplyJob, task: asyncio.Task[float] | None, text: str, p_end: float | None
    ) -> float | None:
        """The end-of-turn model's P(done), counted only where the words and p_end leave the end in doubt."""
        if task is None:
            return None
        if not self.turns.policy.voice_may_shorten(text, p_end):
            task.add_done_callback(_ignore_result)  # p_end settled it: the verdict is not needed
            return None
        try:
            p_done = float(await task)
        except StageError as exc:  # the words alone decide, as without the model
            log.warning("%s", exc)
            return None
        job.timeline.p_done = p_done
        if job.cancelled:
            raise asyncio.CancelledError
        return p_done

    def _messages(self, user_text: str) -> list[Message]:
        recent = self.history[-self.config.max_history_messages :]
        return [Message("system", self.config.system_prompt), *recent, Message("user", user_text)]

    async def _reply_streaming(self, job: ReplyJob, audio: np.ndarray) -> None:
        text = await self._transcribe_final(job, audio)
        if not text:
            return self._finish(job)
        clauses: asyncio.Queue[str | None] = asyncio.Queue()
        producer = self._spawn(self._generate(job, text, clauses))
        speaker = self._spawn(self._speak(job))
        try:
            while (clause := await clauses.get()) is not None:
                if job.player.track.clauses and job.player.ahead_s() > TEXT_MARGIN_S:
                    # Later clauses have playout time in hand: they may wait for first-audio work.
                    pcm, words = await asyncio.to_thread(self._at, Level.LATER_AUDIO, self._synthesize, clause)
                else:  # the first clause, or one the listener is about to run out before: no waiting
                    pcm, words = await asyncio.to_thread(self._urgently, self._synthesize, clause)
                if job.cancelled:
                    return
                job.timeline.mark("first_tts_audio", self.clock())
                first = not job.player.track.clauses
                start, end = self._shaped(clause, pcm, first)
                kept = None if words is None else [(max(0, a - start), min(end, b) - start) for a, b in words]
                job.player.add(clause, pcm[start:end], kept)
            await producer  # re-raise its failure, if any
            job.player.finish()
            await speaker
        finally:
            for task in (producer, speaker):
                if not task.done():
                    task.cancel()
            await asyncio.gather(producer, speaker, return_exceptions=True)
        self._finish(job)

    def _synthesize(self, clause: str) -> tuple[np.ndarray, list[tuple[int, int]] | None]:
        """A clause's audio, and each word's span in it where the TTS can tell."""
        tts = self.models.tts
        if isinstance(tts, TimedTts):
            return tts.synthesize_timed(clause)
        return tts.synthesize(clause), None

    def _shaped(self, clause: str, pcm: np.ndarray, first: bool) -> tuple[int, int]:
        """The samples of a clause's speech to keep, with Piper's silences fitted to where it sits.

        Piper leads every clause with 30-60 ms of silence and ends it with
        120-200 ms, as if each were a sentence. The first clause's lead only
        delays the voice; a clause the chunker cut between words (no
        punctuation) is followed by the rest of its sentence, which a
        200 ms gap would break in two.
        """
        return trim_bounds(
            pcm,
            self.output_rate,
            FIRST_LEAD_MS if first else None,
            MID_SENTENCE_TAIL_MS if ends_mid_sentence(clause) else None,
        )

    async def _generate(self, job: ReplyJob, user_text: str, out: asyncio.Queue[str | None]) -> None:
        chunker = ClauseChunker()
        messages = self._messages(user_text)
        previous = messages[-2].content if messages[-2].role == "assistant" else None
        opening = OpeningRepeatFilter(previous)  # the cut reply's heard words, not said twice
        yielding = GenerationYield(self.models.priority)
        try:
            stream = iterate_in_thread(lambda c: self.models.llm.stream(messages, c), yielding)
            async with aclosing(stream) as deltas:
                async for delta in deltas:
                    if job.cancelled:
                        return
                    job.timeline.mark("llm_first_token", self.clock())
                    # Audio in hand, less what the next clause's synthesis and sending need.
                    yielding.slack_until = time.monotonic() + job.player.ahead_s() - TEXT_MARGIN_S
                    for clause in filter(None, map(opening.take, chunker.push(delta))):
                        job.timeline.mark("first_clause", self.clock())
                        yielding.clause_out = True
                        out.put_nowait(clause)
            for clause in [*filter(None, map(opening.take, chunker.flush())), *opening.leftover()]:
                job.timeline.mark("first_clause", self.clock())
                out.put_nowait(clause)
        except StageError as exc:
            raise LlmFailure(str(exc)) from exc
        finally:
            yielding.close()
            out.put_nowait(None)

    async def _reply_sequential(self, job: ReplyJob, audio: np.ndarray) -> None:
        """The naive baseline: whole transcript, whole reply, whole synthesis, then speak."""
        text = await self._transcribe_final(job, audio)
        if not text:
            return self._finish(job)
        messages = self._messages(text)

        def generate() -> str:
            return "".join(self.models.llm.stream(messages, lambda: job.cancelled))

        reply = await asyncio.to_thread(generate)
        job.timeline.mark("llm_first_token", self.clock())
        chunker = ClauseChunker()
        clauses = chunker.push(reply) + chunker.flush()
        job.timeline.mark("first_clause", self.clock())
        pcms = [await asyncio.to_thread(self.models.tts.synthesize, c) for c in clauses]
        job.timeline.mark("first_tts_audio", self.clock())
        for clause, pcm in zip(clauses, pcms):
            job.player.add(clause, pcm)
        job.player.finish()
        await self._speak(job)
        self._finish(job)

    async def _speak(self, job: ReplyJob) -> None:
        """Once released, play the turn's audio out, marking clause ends as they are sent."""
        await job.released.wait()
        player = job.player
        track = player.track

        async def send(piece: np.ndarray, start: int, end: int, play_at: float) -> None:
            now = self.clock()
            if self.echo is not None:
                at = self.input_clock.position_at(play_at, self.gate.position + round((play_at - now) * SAMPLE_RATE))
                self.echo.add_reference(at, self._reference.process(piece))
            if "first_audio_out" not in job.timeline.marks:
                job.timeline.mark("first_audio_out", now)
                self._handle(ev.ReplyAudioStarted(now, job.turn))
                self._emit({"type": "latency", "turn": job.turn, **job.timeline.breakdown_ms()})
            for i, (text, c0, _) in enumerate(track.clauses):
                if start <= c0 < end and i >= len(job.spoken):
                    job.spoken.append(text)
                    job.timeline.reply_text = " ".join(job.spoken)  # so far: a long reply may be read mid-way
                    self._emit({"type": "agent_text", "turn": job.turn, "text": text})
            await self.sink.send_audio(job.turn, piece)
            job.timeline.audio_seconds = max(job.timeline.audio_seconds, end / self.output_rate)
            for i, (_, _, c1) in enumerate(track.clauses):
                if start < c1 <= end:
                    name = f"{job.turn}:{i + 1}"
                    self._emit(
                        {"type": "mark", "turn": job.turn, "name": name, "audio_s": round(c1 / self.output_rate, 4)}
                    )

        await player.play(send, lambda: job.cancelled)


def _ignore_result(task: asyncio.Task[float]) -> None:
    """Retrieve a task's outcome nobody waits for, so a failure in it is not reported as unhandled."""
    if not task.cancelled():
        task.exception()
