"""TurnManager timelines on a fake clock: events in, actions out, no sleeps."""

from __future__ import annotations

import pytest

from voice_agent.core.events import (
    BeginUtterance,
    CancelReply,
    DiscardReply,
    DropUtterance,
    OverlapWords,
    PauseOutput,
    PrepareReply,
    QuietVoice,
    ReleaseReply,
    ReplyAudioStarted,
    ReplyFailed,
    ReplyFinished,
    ResumeOutput,
    SpeechEnded,
    SpeechStarted,
    State,
    StateChanged,
    Tick,
    TranscribeOverlap,
    TranscriptFinal,
    VoiceBlip,
)
from voice_agent.core.policy import EndpointPolicy
from voice_agent.core.turns import TurnManager

POLICY = EndpointPolicy(complete_ms=400, unknown_ms=600, incomplete_ms=1000)


def run(tm: TurnManager, timeline: list) -> list:
    """Feed events in order; tick at every due deadline before the next event."""
    out = []
    for event in timeline:
        deadline = tm.next_deadline()
        while deadline is not None and deadline <= event.t:
            out += [(deadline, a) for a in tm.handle(Tick(deadline))]
            deadline = tm.next_deadline()
        out += [(event.t, a) for a in tm.handle(event)]
    return out


def kinds(actions: list) -> list:
    return [a for _, a in actions if not isinstance(a, StateChanged)]


def test_complete_sentence_released_after_short_silence() -> None:
    tm = TurnManager(POLICY)
    acts = run(tm, [
        SpeechStarted(0.50),
        SpeechEnded(2.00),
        TranscriptFinal(2.15, 1, "What time is it?"),
        Tick(5.0),
    ])  # fmt: skip
    assert kinds(acts) == [BeginUtterance(0.50), PrepareReply(1), ReleaseReply(1, 2.40)]
    assert tm.state is State.THINKING


def test_release_waits_for_transcript_when_asr_is_slow() -> None:
    tm = TurnManager(POLICY)
    acts = run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), Tick(2.0), TranscriptFinal(2.5, 1, "Hello there.")])
    # the deadline passed while transcribing: release the moment the text arrives
    assert kinds(acts)[-1] == ReleaseReply(1, 2.5)


def test_trailing_conjunction_waits_longer() -> None:
    tm = TurnManager(POLICY)
    acts = run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), TranscriptFinal(1.1, 1, "I want to go and"), Tick(1.9)])
    assert ReleaseReply(1, 1.9) not in kinds(acts)
    assert tm.next_deadline() == pytest.approx(2.0)
    assert ReleaseReply(1, 2.0) in kinds(run(tm, [Tick(2.0)]))


@pytest.mark.parametrize(("p_done", "released_at"), [(0.95, 1.4), (0.3, 2.0), (None, 2.0)])
def test_a_voice_that_sounds_done_ends_an_unpunctuated_answer_early(p_done: float | None, released_at: float) -> None:
    tm = TurnManager(POLICY)
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), TranscriptFinal(1.2, 1, "7 of clubs", p_end=2e-6, p_done=p_done)])
    assert tm.next_deadline() == pytest.approx(released_at)
    assert ReleaseReply(1, released_at) in kinds(run(tm, [Tick(released_at)]))


@pytest.mark.parametrize(
    ("p_stop", "released_at"),
    [
        (0.9, 1.4),  # a full stop Whisper is sure of: the short wait
        (None, 1.4),  # a recogniser that does not tell: the stop counts
        (0.33, 1.6),  # a stop it guessed ("...and rather self." cut mid-word): no cue, the middle wait
    ],
)
def test_a_full_stop_the_recogniser_only_guessed_is_no_sign_of_an_end(p_stop: float | None, released_at: float) -> None:
    tm = TurnManager(POLICY)
    final = TranscriptFinal(1.2, 1, "Unless to be rather cold-hearted and rather self.", p_end=0.3, p_stop=p_stop)
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), final])
    assert tm.next_deadline() == pytest.approx(released_at)


def test_user_goes_on_after_pause_discards_speculation() -> None:
    tm = TurnManager(POLICY)
    acts = run(tm, [
        SpeechStarted(0.0),
        SpeechEnded(1.0),  # pause: speculate turn 1
        TranscriptFinal(1.1, 1, "So I was thinking,"),
        SpeechStarted(1.6),  # inside the 1.0 s an unfinished clause earns
        SpeechEnded(3.0),  # real end: turn 2
        TranscriptFinal(3.1, 2, "So I was thinking, let's go."),
        Tick(4.0),
    ])  # fmt: skip
    assert kinds(acts) == [
        BeginUtterance(0.0), PrepareReply(1), DiscardReply(1), PrepareReply(2), ReleaseReply(2, 3.4),
    ]  # fmt: skip


def test_voice_blip_restarts_silence_count() -> None:
    tm = TurnManager(POLICY)
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), TranscriptFinal(1.05, 1, "Right.")])
    assert tm.next_deadline() == pytest.approx(1.4)
    tm.handle(VoiceBlip(1.3))  # a voiced frame too short to be speech yet
    assert tm.next_deadline() == pytest.approx(1.7)


@pytest.mark.parametrize(
    ("final", "released_at"),
    [
        # the words call it done: the silence counts from the last loud frame (1.0)
        (TranscriptFinal(1.1, 1, "Go forward ten meters.", p_end=0.1), 1.4),
        # "1." that only the voice calls done ("one | two | three" read slowly):
        # its faint, voiced gap is no silence, so the count starts after it (1.25)
        (TranscriptFinal(1.1, 1, "1.", p_end=5e-6, p_done=0.95), 1.65),
        (TranscriptFinal(1.1, 1, "I want to go and"), 2.25),
    ],
)
def test_quiet_voice_counts_as_silence_only_when_the_words_say_done(final: TranscriptFinal, released_at: float) -> None:
    tm = TurnManager(POLICY)
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), QuietVoice(1.2), QuietVoice(1.25), final])
    assert tm.next_deadline() == pytest.approx(released_at)
    assert ReleaseReply(1, released_at) in kinds(run(tm, [Tick(released_at)]))


def test_empty_transcript_is_no_turn() -> None:
    tm = TurnManager(POLICY)
    acts = run(tm, [SpeechStarted(0.0), SpeechEnded(0.3), TranscriptFinal(0.4, 1, "  ")])
    assert kinds(acts) == [BeginUtterance(0.0), PrepareReply(1), DiscardReply(1), DropUtterance()]
    assert tm.state is State.LISTENING


def test_full_turn_cycle_back_to_listening() -> None:
    tm = TurnManager(POLICY)
    acts = run(tm, [
        SpeechStarted(0.0), SpeechEnded(1.0), TranscriptFinal(1.1, 1, "Hi."),
        ReplyAudioStarted(1.5, 1), ReplyFinished(3.0, 1),
    ])  # fmt: skip
    states = [a.state for _, a in acts if isinstance(a, StateChanged)]
    assert states == [State.USER_SPEAKING, State.ENDPOINTING, State.THINKING, State.SPEAKING, State.LISTENING]


def test_stale_turn_events_are_ignored() -> None:
    tm = TurnManager(POLICY)
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), SpeechStarted(1.2), SpeechEnded(2.0)])
    assert tm.turn == 2
    assert tm.handle(TranscriptFinal(2.1, 1, "old words.")) == []  # turn 1 was discarded
    assert tm.handle(ReplyFinished(2.2, 1)) == []
    assert tm.state is State.ENDPOINTING


def speaking(tm: TurnManager) -> None:
    """Bring the manager to: turn 1 released and playing since t=1.5."""
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), TranscriptFinal(1.1, 1, "Hi."), ReplyAudioStarted(1.5, 1)])
    assert tm.state is State.SPEAKING


def test_barge_in_with_real_words_cancels_and_starts_next_turn() -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    assert kinds(run(tm, [SpeechStarted(5.0)])) == [BeginUtterance(5.0), PauseOutput(1, 5.0)]
    assert run(tm, [OverlapWords(5.4, 1, "Wait, stop", final=False)]) == []  # one partial: not yet
    acts = run(tm, [OverlapWords(5.7, 1, "Wait, stop talking", final=False)])
    assert kinds(acts) == [CancelReply(1, 5.7)] and tm.state is State.USER_SPEAKING
    assert PrepareReply(2) in kinds(run(tm, [SpeechEnded(6.0)]))


def test_words_known_only_after_speech_ended_still_barge_in() -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    acts = run(tm, [SpeechStarted(5.0), SpeechEnded(5.6)])
    assert kinds(acts)[-1] == TranscribeOverlap(1)
    acts = run(tm, [OverlapWords(5.7, 1, "What about tomorrow?", final=True)])
    assert kinds(acts) == [CancelReply(1, 5.7), PrepareReply(2)]
    assert tm.state is State.ENDPOINTING


@pytest.mark.parametrize("said", ["Uh-huh.", "Yeah, right.", "mm-hmm", "I see.", ""])
def test_backchannel_or_cough_resumes_after_silence(said: str) -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    run(tm, [SpeechStarted(5.0), SpeechEnded(5.4)])
    acts = run(tm, [OverlapWords(5.5, 1, said, final=True)])
    assert acts == []  # still paused: resume only after 350 ms of quiet
    assert kinds(run(tm, [Tick(5.75)])) == [ResumeOutput(1), DropUtterance()]
    assert tm.state is State.SPEAKING and not tm.overlapping


def test_endless_noise_never_stops_the_agent_for_good() -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    run(tm, [SpeechStarted(5.0)])
    assert tm.next_deadline() == pytest.approx(9.0)
    assert ResumeOutput(1) in kinds(run(tm, [Tick(9.0)]))


def test_overlap_words_of_a_stale_turn_are_ignored() -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    run(tm, [SpeechStarted(5.0)])
    assert tm.handle(OverlapWords(5.3, 0, "stop now", final=False)) == []


def test_failed_reply_returns_to_listening() -> None:
    tm = TurnManager(POLICY)
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), TranscriptFinal(1.1, 1, "Hi."), ReplyFailed(1.6, 1, "tts died")])
    assert tm.state is State.LISTENING


def test_failure_while_preparing_drops_the_turn() -> None:
    tm = TurnManager(POLICY)
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0)])
    acts = tm.handle(ReplyFailed(1.1, 1, "asr crashed"))
    assert DropUtterance() in acts and tm.state is State.LISTENING and tm.next_deadline() is None


def test_sequential_mode_prepares_only_at_endpoint() -> None:
    tm = TurnManager(EndpointPolicy(unknown_ms=500, speculative=False))
    acts = run(tm, [SpeechStarted(0.0), SpeechEnded(1.0), SpeechStarted(1.2), SpeechEnded(2.0), Tick(3.0)])
    assert kinds(acts) == [BeginUtterance(0.0), PrepareReply(1), ReleaseReply(1, 2.5)]


def test_no_deadline_while_waiting_for_speculative_transcript() -> None:
    tm = TurnManager(POLICY)
    run(tm, [SpeechStarted(0.0), SpeechEnded(1.0)])
    assert tm.next_deadline() is None  # the transcript decides; no busy ticking


@pytest.mark.parametrize("phantom", ["Thank you.", "Bye.", "you"])
def test_a_partial_that_is_whispers_stock_phrase_waits_for_the_final(phantom: str) -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    run(tm, [SpeechStarted(5.0)])
    assert kinds(run(tm, [OverlapWords(5.3, 1, phantom, final=False)])) == []  # a fragment of "right"
    run(tm, [SpeechEnded(5.4)])
    assert kinds(run(tm, [OverlapWords(5.5, 1, "Right.", final=True), Tick(5.75)])) == [
        ResumeOutput(1),
        DropUtterance(),
    ]
    assert tm.state is State.SPEAKING


def test_the_same_phrase_as_the_whole_utterance_still_barges_in() -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    run(tm, [SpeechStarted(5.0), SpeechEnded(5.6)])
    assert CancelReply(1, 5.7) in kinds(run(tm, [OverlapWords(5.7, 1, "Thank you.", final=True)]))


def test_one_word_in_a_partial_waits_two_words_confirm() -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    run(tm, [SpeechStarted(5.0)])
    assert kinds(run(tm, [OverlapWords(5.3, 1, "Ride.", final=False)])) == []  # "right", cut off
    assert kinds(run(tm, [OverlapWords(5.6, 1, "Ride on, please", final=False)])) == []  # the first with two
    assert kinds(run(tm, [OverlapWords(5.9, 1, "Ride on, please wait", final=False)])) == [CancelReply(1, 5.9)]


def test_a_backchannel_that_whisper_pads_with_imagined_words_is_no_barge_in() -> None:
    tm = TurnManager(POLICY)
    speaking(tm)
    run(tm, [SpeechStarted(5.0)])
    assert kinds(run(tm, [OverlapWords(5.3, 1, "I see.", final=False)])) == []
    assert kinds(run(tm, [OverlapWords(5.5, 1, "I see what happened.", final=False)])) == []  # measured
    run(tm, [SpeechEnded(5.5)])
    assert kinds(run(tm, [OverlapWords(5.6, 1, "I see.", final=True), Tick(5.85)])) == [
        ResumeOutput(1),
        DropUtterance(),
    ]


def test_the_agents_own_words_come_back_through_the_speaker_are_no_barge_in() -> None:
    """Measured on a looped-back speaker: the echo of "next" came back as the final "next."."""
    tm = TurnManager(POLICY)
    speaking(tm)
    said = "I'm going to the next ten"
    run(tm, [SpeechStarted(5.0), SpeechEnded(5.3)])
    assert kinds(run(tm, [OverlapWords(5.4, 1, "next.", final=True, agent_said=said), Tick(5.65)])) == [
        ResumeOutput(1),
        DropUtterance(),
    ]
    run(tm, [SpeechStarted(6.0), SpeechEnded(6.4)])  # a word of the user's own does barge in
    assert CancelReply(1, 6.5) in kinds(run(tm, [OverlapWords(6.5, 1, "Stop.", final=True, agent_said=said)]))
