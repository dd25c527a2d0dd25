"""The session wired to fake stages: turns, speculation, cancellation, failures.

Audio is pushed faster than real time: the session dates VAD events by sample
position, so a second of silence pushed at once counts as a second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.fakes import EnergyVad, FakeAsr, FakeLlm, FakeTts, FakeTurnModel, RecordingSink, fake_models, quiet, tone
from voice_agent.config import SessionConfig
from voice_agent.core.events import State
from voice_agent.priority import Level
from voice_agent.session import Session
from voice_agent.stages.base import Cancelled, Message


async def settle(session: Session, until: State = State.LISTENING, timeout: float = 5.0) -> None:
    """Wait until the session is idle in `until` with no reply in flight."""
    async with asyncio.timeout(timeout):
        while not (session.turns.state is until and not session._jobs):  # noqa: SLF001
            await asyncio.sleep(0.01)


async def talk(session: Session, *parts: np.ndarray) -> None:
    for part in parts:
        await session.push_audio(part)


@pytest.fixture
def config() -> SessionConfig:
    return SessionConfig(partial_every_ms=0)


async def test_one_turn_produces_tagged_audio_and_events(config: SessionConfig) -> None:
    sink = RecordingSink()
    session = Session(fake_models(), sink, config)
    await session.start()
    await talk(session, quiet(300), tone(800), quiet(1000))
    await settle(session)
    await session.close()
    assert sink.audio, "no reply audio"
    assert {turn for _, turn, _ in sink.audio} == {1}
    finals = sink.of_type("transcript")
    assert finals and finals[-1]["final"] and finals[-1]["text"] == "hello there."
    spoken = " ".join(e["text"] for e in sink.of_type("agent_text"))
    assert spoken == "Hi! Nice to hear from you. How are you doing today?"
    latency = sink.of_type("latency")[0]
    assert latency["turn"] == 1 and latency["first_audio_out"] >= latency["asr_final"] >= 0
    states = [e["state"] for e in sink.of_type("state")]
    assert states[-3:] == ["thinking", "speaking", "listening"]
    assert [m.role for m in session.history] == ["user", "assistant"]
    assert session.history[1].content == spoken


@pytest.mark.parametrize(
    ("text", "p_end", "p_done", "run", "counted", "soon"),
    [
        ("7 of clubs", 2e-6, 0.95, True, True, True),  # words in doubt, a voice that sounds done
        ("7 of clubs", 2e-6, 0.2, True, True, False),
        # run beside the LLM's scoring, but the LLM all but rules the end out
        ("the horizon seems to be", 7e-11, 0.95, True, False, False),
        ("hello there.", 0.2, 0.95, False, False, True),  # the words already say done: the model is not run
        ("10 of", 0.0, 0.95, False, False, False),  # nor where it cannot help: a dangling "of" waits long
    ],
)
async def test_the_voice_model_settles_only_a_doubtful_end(
    config: SessionConfig, text: str, p_end: float, p_done: float, run: bool, counted: bool, soon: bool
) -> None:
    voice = FakeTurnModel(p_done)
    llm = FakeLlm(p_end=p_end)
    session = Session(fake_models(asr=FakeAsr(text=lambda n: text), llm=llm, turn_model=voice), RecordingSink(), config)
    await session.start()
    await talk(session, quiet(300), tone(800), quiet(200))
    await settle(session)
    await session.close()
    assert bool(voice.heard) is run
    assert (session.timelines[0].p_done is not None) is counted
    if run:  # it hears the voice and then 100 ms of the silence after it
        level = np.abs(voice.heard[0])
        assert level[-1600:].max() < 0.01 and level[-1920:-1600].min() < level[-1920:-1600].max() > 0.1
    # endpoint from the VAD's end (120 ms into the silence): 300 - 120 for done, 1100 - 120 when in doubt
    waited = session.timelines[0].breakdown_ms()["endpoint"]
    assert (waited < 500) is soon, waited


async def test_the_voice_model_runs_beside_the_llms_scoring(config: SessionConfig) -> None:
    voice = FakeTurnModel(0.95, took_s=0.15)
    llm = FakeLlm(p_end=2e-6, scoring_s=0.15)
    models = fake_models(asr=FakeAsr(text=lambda n: "7 of clubs"), llm=llm, turn_model=voice)
    session = Session(models, RecordingSink(), config)
    await session.start()
    await talk(session, quiet(300), tone(800), quiet(200))
    await settle(session)
    await session.close()
    marks = session.timelines[0].breakdown_ms()
    assert session.timelines[0].p_done == 0.95
    assert marks["turn_scored"] - marks["asr_final"] < 250, marks  # one after the other: 300 ms or more


async def test_user_going_on_discards_speculative_reply(config: SessionConfig) -> None:
    llm = FakeLlm(per_token=0.02)
    asr = FakeAsr(text=lambda n: "so I was thinking," if n < 16000 * 1.5 else "so I was thinking, let's go.")
    sink = RecordingSink()
    session = Session(fake_models(llm=llm, asr=asr), sink, config)
    await session.start()
    await talk(session, quiet(200), tone(700), quiet(400))  # a pause: speculation starts
    await asyncio.sleep(0.1)  # the speculative LLM is now streaming
    await talk(session, tone(600), quiet(1000))
    await settle(session)
    await session.close()
    assert {turn for _, turn, _ in sink.audio} == {2}, "audio of the discarded turn leaked"
    assert llm.stopped_early.is_set(), "the discarded generation kept running"
    assert llm.prompts[-1][-1].content == "so I was thinking, let's go."
    assert [m.content for m in session.history if m.role == "user"] == ["so I was thinking, let's go."]


async def test_silence_and_wordless_noise_make_no_turn(config: SessionConfig) -> None:
    asr = FakeAsr(text=lambda n: "")
    sink = RecordingSink()
    session = Session(fake_models(asr=asr), sink, config)
    await session.start()
    await talk(session, quiet(2000))
    assert asr.calls == []
    await talk(session, tone(300), quiet(1500))  # a cough: voiced, but no words
    await settle(session)
    await session.close()
    assert sink.audio == [] and sink.of_type("error") == []
    assert session.turns.state is State.LISTENING and session.history == []


async def test_stage_crash_is_an_error_event_and_next_turn_works(config: SessionConfig) -> None:
    tts = FakeTts(fail_on={1})
    sink = RecordingSink()
    session = Session(fake_models(tts=tts), sink, config)
    await session.start()
    await talk(session, quiet(200), tone(600), quiet(1000))
    await settle(session)
    errors = sink.of_type("error")
    assert len(errors) == 1 and errors[0]["code"] == "stage_failed" and "TTS" in errors[0]["message"]
    await talk(session, tone(600), quiet(1000))
    await settle(session)
    await session.close()
    assert {turn for _, turn, _ in sink.audio} == {2}


async def test_llm_failure_is_reported(config: SessionConfig) -> None:
    sink = RecordingSink()
    session = Session(fake_models(llm=FakeLlm(fail=True)), sink, config)
    await session.start()
    await talk(session, quiet(200), tone(600), quiet(1000))
    await settle(session)
    await session.close()
    error = sink.of_type("error")[0]
    assert error["code"] == "llm_unavailable" and "LLM" in error["message"]
    said = [e["text"] for e in sink.of_type("agent_text")]
    assert said and said[0].startswith("Sorry"), "the agent went silent instead of apologising"
    assert sink.audio and session.turns.state is State.LISTENING


async def test_close_mid_reply_leaves_no_task_or_thread(config: SessionConfig) -> None:
    llm = FakeLlm(reply=" ".join(["word"] * 400), per_token=0.01)
    session = Session(fake_models(llm=llm), RecordingSink(), config)
    threads_before = threading.active_count()
    await session.start()
    await talk(session, quiet(200), tone(600), quiet(800))
    async with asyncio.timeout(3):
        while not session._jobs or not llm.prompts:  # noqa: SLF001
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    await session.close()
    assert all(t.done() for t in asyncio.all_tasks() if t is not asyncio.current_task())
    assert llm.stopped_early.wait(1.0) and not llm.finished.is_set()
    await asyncio.sleep(0.05)
    assert threading.active_count() <= threads_before + 4  # idle pool threads only


async def test_output_is_paced_close_to_playout(config: SessionConfig) -> None:
    config.max_output_lead_s = 0.3
    llm = FakeLlm(reply="one two three four five six seven eight nine ten. " * 4, per_token=0.001)
    sink = RecordingSink()
    session = Session(fake_models(llm=llm), sink, config)
    await session.start()
    await talk(session, quiet(200), tone(600), quiet(1000))
    await settle(session, timeout=10)
    await session.close()
    t0 = sink.audio[0][0]
    sent = 0.0
    for t, _, n in sink.audio:
        assert sent - (t - t0) <= 0.3 + 0.1 + 0.05, "ran too far ahead of playout"
        sent += n / 16000
    assert sent > 2.0


async def test_a_reply_still_playing_already_reports_the_text_gone_out(config: SessionConfig) -> None:
    # The bench reads a turn's record once it has waited long enough, which can be mid-reply.
    llm = FakeLlm(reply="one two three four five. six seven eight nine ten. " * 6, per_token=0.001)
    sink = RecordingSink()
    session = Session(fake_models(llm=llm), sink, config)
    await session.start()
    await talk(session, quiet(200), tone(600), quiet(1000))
    async with asyncio.timeout(5):
        while not sink.of_type("agent_text"):
            await asyncio.sleep(0.01)
    timeline = session.timelines[-1]
    still_playing = bool(session._jobs)  # noqa: SLF001
    heard_so_far = timeline.reply_text
    await session.close()
    assert still_playing
    assert heard_so_far == " ".join(e["text"] for e in sink.of_type("agent_text"))
    assert heard_so_far.startswith("one two")


async def test_sequential_mode_answers_after_the_whole_reply(config: SessionConfig) -> None:
    config.mode = "sequential"
    llm = FakeLlm()
    sink = RecordingSink()
    session = Session(fake_models(llm=llm), sink, config)
    await session.start()
    await talk(session, quiet(200), tone(600), quiet(1200))
    await settle(session)
    await session.close()
    assert llm.finished.is_set() and sink.audio
    marks = session.timelines[0].marks
    assert marks["first_audio_out"] >= marks["first_tts_audio"] >= marks["llm_first_token"]


async def test_odd_sized_pushes_are_reframed(config: SessionConfig) -> None:
    sink = RecordingSink()
    session = Session(fake_models(), sink, config)
    await session.start()
    audio = np.concatenate([quiet(200), tone(700), quiet(1000)])
    for i in range(0, len(audio), 77):  # not a multiple of the 320-sample frame
        await session.push_audio(audio[i : i + 77])
    await settle(session)
    await session.close()
    assert session.position == len(audio) // 320 * 320 and sink.audio


def scripted_asr(overlap_text: str) -> FakeAsr:
    """First utterance: a question; anything later (speech over the agent): `overlap_text`."""
    calls = {"n": 0}

    def text(n: int) -> str:
        calls["n"] += 1
        return "tell me a story." if n > 16000 * 0.9 else overlap_text

    return FakeAsr(text=text)


async def start_long_reply(session: Session, sink: RecordingSink) -> None:
    await session.start()
    await talk(session, quiet(200), tone(800), quiet(900))
    async with asyncio.timeout(5):
        while not sink.audio or session.turns.state is not State.SPEAKING:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)  # half a second of the reply has played


async def feed_realtime(session: Session, audio: np.ndarray) -> None:
    for i in range(0, len(audio), 320):
        await session.push_audio(audio[i : i + 320])
        await asyncio.sleep(0.02)


async def test_barge_in_clears_cancels_and_commits_only_heard_text(config: SessionConfig) -> None:
    llm = FakeLlm(reply="Once upon a time there was a dragon who lived in a cave. " * 6, per_token=0.002)
    sink = RecordingSink()
    session = Session(fake_models(llm=llm, asr=scripted_asr("wait, stop")), sink, config)
    await start_long_reply(session, sink)
    await feed_realtime(session, tone(500))
    clear_at = None
    async with asyncio.timeout(3):
        while clear_at is None:
            clear_at = next((i for i, e in enumerate(sink.events) if e["type"] == "clear"), None)
            await asyncio.sleep(0.01)
    await feed_realtime(session, quiet(1000))
    await settle(session, timeout=8)
    await session.close()
    interrupted = sink.of_type("interrupted")
    assert len(interrupted) == 1 and interrupted[0]["turn"] == 1
    heard = interrupted[0]["heard"]
    assert heard and "Once upon a time".startswith(heard.split(" —")[0][:16])
    assert llm.stopped_early.is_set() or llm.finished.is_set()
    sent_1 = sum(n for _, turn, n in sink.audio if turn == 1) / 16000
    assert len(heard.split()) < len(llm.reply.split()) and sent_1 < 4.0
    assistant = [m.content for m in session.history if m.role == "assistant"]
    assert assistant[0] == heard + " —", "the cut reply must be committed as heard, marked as cut"
    assert [m.content for m in session.history if m.role == "user"][:2] == ["tell me a story.", "wait, stop"]
    assert any(turn == 2 for _, turn, _ in sink.audio), "the barge-in utterance got no reply"


class _CopyingLlm(FakeLlm):
    """Answers like SmolLM2 after a barge-in: the cut reply copied from the prompt, then something new."""

    def stream(self, messages: list[Message], cancelled: Cancelled) -> Iterator[str]:
        cut = messages[-2].content if messages[-2].role == "assistant" else ""
        self.reply = (cut + "ten of clubs, I think.") if cut else self.story
        return super().stream(messages, cancelled)

    story: str = "Once upon a time there was a dragon. It lived in a cave. " * 6


async def test_the_reply_after_a_barge_in_does_not_repeat_what_was_heard(config: SessionConfig) -> None:
    llm = _CopyingLlm(per_token=0.002)
    sink = RecordingSink()
    session = Session(fake_models(llm=llm, asr=scripted_asr("wait, stop")), sink, config)
    await start_long_reply(session, sink)
    await feed_realtime(session, tone(500))
    await feed_realtime(session, quiet(1000))
    await settle(session, timeout=8)
    await session.close()
    heard = sink.of_type("interrupted")[0]["heard"]
    assert len(heard.split()) >= 2, heard
    second = " ".join(e["text"] for e in sink.of_type("agent_text") if e["turn"] == 2)
    assert llm.reply.startswith(heard), "the fake did not copy the cut reply"
    assert second.lower().startswith("ten of clubs"), second


@pytest.mark.parametrize(
    "overlap",
    [
        "uh-huh",  # a backchannel
        "A dragon.",  # an echo the guard missed, transcribed as words the reply just played
    ],
)
async def test_backchannel_or_own_echo_pauses_then_resumes_same_turn(config: SessionConfig, overlap: str) -> None:
    llm = FakeLlm(reply="Once upon a time there was a dragon who lived in a cave. " * 4, per_token=0.002)
    sink = RecordingSink()
    session = Session(fake_models(llm=llm, asr=scripted_asr(overlap)), sink, config)
    await start_long_reply(session, sink)
    await feed_realtime(session, tone(400))
    await feed_realtime(session, quiet(800))
    await settle(session, timeout=15)
    await session.close()
    kinds = [e["type"] for e in sink.events]
    assert "clear" in kinds and "resume" in kinds and "interrupted" not in kinds
    assert {turn for _, turn, _ in sink.audio} == {1}
    spoken = " ".join(e["text"] for e in sink.of_type("agent_text"))
    assert spoken.split() == llm.reply.split(), "the resumed reply lost or repeated clauses"
    assert [m.role for m in session.history] == ["user", "assistant"]


async def _partials_while(loaded: bool) -> tuple[int, list[str]]:
    models = fake_models(asr=FakeAsr(text=lambda n: "words so far."))
    if loaded:  # another session's reply is generating its first clause
        models.priority.enter(Level.GENERATION)
    sink = RecordingSink()
    session = Session(models, sink, SessionConfig(partial_every_ms=300))
    await session.start()
    await talk(session, quiet(200))
    for _ in range(20):  # 2 s of speech, in real time
        await talk(session, tone(100))
        await asyncio.sleep(0.1)
    if loaded:
        models.priority.leave(Level.GENERATION)
    await talk(session, quiet(1000))
    await settle(session)
    await session.close()
    transcripts = sink.of_type("transcript")
    return sum(not e["final"] for e in transcripts), [e["text"] for e in transcripts if e["final"]]


async def test_partial_transcripts_give_way_under_load_but_the_final_does_not() -> None:
    idle_partials, idle_finals = await _partials_while(loaded=False)
    loaded_partials, loaded_finals = await _partials_while(loaded=True)
    assert idle_partials >= 4, idle_partials
    assert loaded_partials == 1  # only the one at the pause, which serves as the final
    assert idle_finals == loaded_finals == ["words so far."]


async def test_the_llm_reads_the_words_while_the_user_still_speaks() -> None:
    said = "so what do you think about the weather we had on the coast last week when the storm came"
    asr = FakeAsr(text=lambda n: " ".join(said.split()[: max(1, n // 3200)]) + ".")
    llm = FakeLlm(p_end=0.3)
    session = Session(fake_models(asr=asr, llm=llm), RecordingSink(), SessionConfig(partial_every_ms=300))
    await session.start()
    await talk(session, quiet(200))
    for _ in range(15):  # 1.5 s of speech, in real time
        await talk(session, tone(100))
        await asyncio.sleep(0.1)
    prefilled = list(llm.scored)
    await talk(session, quiet(1000))
    await settle(session)
    await session.close()
    final = session.timelines[0].user_text
    # Partial texts were scored (their tokens cached) before the pause; the reply then scored its own.
    assert prefilled and all(len(t) < len(final) for t in prefilled), (prefilled, final)
    assert llm.scored[-1] == final and session.timelines[0].p_end == 0.3


async def test_the_end_of_turn_is_scored_at_the_pause_and_the_reply_reuses_it() -> None:
    scored_at: list[float] = []

    class TimedLlm(FakeLlm):
        def end_of_turn(self, messages: list[Message]) -> float | None:
            scored_at.append(time.monotonic())
            return super().end_of_turn(messages)

    llm = TimedLlm(p_end=0.3)
    session = Session(fake_models(llm=llm), RecordingSink(), SessionConfig(partial_every_ms=0))
    await session.start()
    await talk(session, quiet(200), tone(600))
    for _ in range(15):  # the pause, in real time: the VAD calls it at 120 ms
        await talk(session, quiet(20))
        await asyncio.sleep(0.02)
    await talk(session, quiet(1000))
    await settle(session)
    await session.close()
    timeline = session.timelines[0]
    assert llm.scored == ["hello there."]  # once: the reply took the pause's score
    assert scored_at[0] < timeline.marks["vad_end"]  # begun on the pause's transcript, before the VAD's end
    assert timeline.p_end == 0.3


async def test_partials_while_the_user_speaks_take_at_most_half_the_time() -> None:
    asr = FakeAsr(text=lambda n: "words so far.", delay=0.15)  # as a long utterance's partial
    session = Session(fake_models(asr=asr), RecordingSink(), SessionConfig(partial_every_ms=100))
    await session.start()
    await talk(session, quiet(200))
    for _ in range(24):  # 2.4 s of speech, in real time
        await talk(session, tone(100))
        await asyncio.sleep(0.1)
    partials = sum(1 for _, final in asr.calls if not final)
    await talk(session, quiet(1000))
    await settle(session)
    await session.close()
    # Back to back that would be ~15; with a pause as long as each took, at most ~8.
    assert 3 <= partials <= 9, asr.calls


class _CountingVad(EnergyVad):
    """The fake VAD, counting the frames it was shown."""

    def __init__(self, aggressiveness: int = 2) -> None:
        super().__init__(aggressiveness)
        self.frames = 0

    def is_speech(self, frame: np.ndarray) -> bool:
        self.frames += 1
        return super().is_speech(frame)


async def test_the_vad_sees_every_frame_even_those_the_echo_guard_rules_out(config: SessionConfig) -> None:
    # A VAD left unfed keeps its hangover: WebRTC's called the digital silence after a
    # backchannel speech, and the agent paused a second time for nothing.
    vads: list[_CountingVad] = []

    def make_vad(aggressiveness: int = 2) -> _CountingVad:
        vads.append(_CountingVad(aggressiveness))
        return vads[-1]

    models = fake_models()
    models.make_vad = make_vad
    session = Session(models, RecordingSink(), config)
    assert session.echo is not None
    session.echo.process = lambda frame, position: (frame, False)  # type: ignore[method-assign]
    await session.start()
    await talk(session, quiet(200), tone(800), quiet(400))
    await session.close()
    assert session.turns.state is State.LISTENING  # nothing got past the guard
    assert vads[0].frames == session.gate.position // 320 == 70
