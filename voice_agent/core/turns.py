"""TurnManager: the sans-I/O state machine for turn-taking.

    listening --SpeechStarted--> user_speaking --SpeechEnded--> endpointing
    endpointing --SpeechStarted--> user_speaking   (the user went on)
    endpointing --deadline reached, transcript known--> thinking
    thinking --ReplyAudioStarted--> speaking --ReplyFinished--> listening

Feed it events with `handle(event)`; it returns actions for the session to
carry out. It never reads a clock: the session calls `handle(Tick(now))` when
`next_deadline()` is due. Turn ids grow by one for every reply prepared, so a
reply that was discarded can never be confused with a later one.

While the agent holds the floor (thinking or speaking), user speech first
pauses the output (PauseOutput: stop, clear the transport's buffer) and is
transcribed. Real words confirm a barge-in (CancelReply; the speech becomes
the next user turn); a backchannel ("uh-huh"), a cough or noise lets the
agent resume from where it paused once the user is quiet again.
"""

from __future__ import annotations

from .events import (
    Action,
    BeginUtterance,
    CancelReply,
    DiscardReply,
    DropUtterance,
    Event,
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
from .policy import BargeInPolicy, EndpointPolicy, confirms_barge_in

_HOLDING_FLOOR = (State.THINKING, State.SPEAKING)


class TurnManager:
    """Decides when the user's turn ends and when the agent may speak."""

    def __init__(self, policy: EndpointPolicy | None = None, barge_in: BargeInPolicy | None = None) -> None:
        self.policy = policy or EndpointPolicy()
        self.barge_in = barge_in or BargeInPolicy()
        self.state = State.LISTENING
        self.turn = 0  # id of the newest reply prepared
        self._user_voiced = False  # VAD's latest verdict, in every state
        self._silence_start: float | None = None
        self._quiet_voice_end = float("-inf")  # the latest frame voiced but under the speaker's level
        self._final_text: str | None = None
        self._p_end: float | None = None
        self._p_done: float | None = None
        self._final_known = False
        self._prepared = False
        # speech over the agent: when it began, when it fell silent, whether its words are known
        self._overlap_start: float | None = None
        self._overlap_silence: float | None = None
        self._overlap_settled = False
        self._overlap_partial: str | None = None  # the latest partial transcript of that speech

    @property
    def overlapping(self) -> bool:
        """True while user speech over the agent is being checked (output paused)."""
        return self._overlap_start is not None

    # ---- public API --------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When the session must call handle(Tick) next, or None."""
        if self._overlap_start is not None:
            limit = self._overlap_start + self.barge_in.max_pause_ms / 1000.0
            if self._overlap_silence is not None and self._overlap_settled:
                return min(limit, self._overlap_silence + self.barge_in.resume_after_ms / 1000.0)
            return limit
        if self.state is not State.ENDPOINTING or self._silence_start is None:
            return None
        if self.policy.speculative and not self._final_known:
            return None  # the transcript decides; it arrives as TranscriptFinal
        needed = self.policy.silence_needed_ms(self._final_text, self._p_end, self._p_done)
        start = self._silence_start
        if not self.policy.words_say_done(self._final_text, self._p_end):
            # Only the words' own verdict may count the silence from the last loud frame: a
            # list read slowly ("one | two | three") has faint, voiced gaps that are no end.
            start = max(start, self._quiet_voice_end)
        return start + needed / 1000.0

    def handle(self, event: Event) -> list[Action]:
        """Apply one event and return the actions it calls for."""
        if isinstance(event, SpeechStarted):
            return self._on_speech_started(event)
        if isinstance(event, SpeechEnded):
            return self._on_speech_ended(event)
        if isinstance(event, VoiceBlip):
            if self.state is State.ENDPOINTING and self._silence_start is not None:
                self._silence_start = max(self._silence_start, event.t)
            if self._overlap_silence is not None:
                self._overlap_silence = max(self._overlap_silence, event.t)
            return []
        if isinstance(event, QuietVoice):
            self._quiet_voice_end = max(self._quiet_voice_end, event.t)
            if self._overlap_silence is not None:  # whether to resume is always in doubt
                self._overlap_silence = max(self._overlap_silence, event.t)
            return []
        if isinstance(event, OverlapWords):
            return self._on_overlap_words(event)
        if isinstance(event, TranscriptFinal):
            return self._on_final(event)
        if isinstance(event, Tick):
            if self._overlap_start is not None:
                return self._on_overlap_tick(event.t)
            return self._on_tick(event.t)
        if isinstance(event, ReplyAudioStarted):
            if event.turn == self.turn and self.state is State.THINKING:
                return self._go(State.SPEAKING, event.t)
            return []
        if isinstance(event, ReplyFailed) and self.state is State.ENDPOINTING and event.turn == self.turn:
            # A stage crashed while the reply was being prepared: that turn is lost.
            self._reset_endpointing()
            return [DropUtterance(), *self._go(State.LISTENING, event.t)]
        if isinstance(event, (ReplyFinished, ReplyFailed)):
            return self._on_reply_over(event.turn, event.t)
        raise TypeError(f"unknown event {event!r}")

    # ---- transitions -------------------------------------------------------

    def _go(self, state: State, t: float) -> list[Action]:
        if state is self.state:
            return []
        self.state = state
        return [StateChanged(state, t)]

    def _on_speech_started(self, ev: SpeechStarted) -> list[Action]:
        self._user_voiced = True
        if self.state is State.LISTENING:
            return [BeginUtterance(ev.t), *self._go(State.USER_SPEAKING, ev.t)]
        if self.state is State.ENDPOINTING:
            # The user went on after a pause: whatever was prepared is stale.
            actions: list[Action] = []
            if self._prepared:
                actions.append(DiscardReply(self.turn))
            self._reset_endpointing()
            return actions + self._go(State.USER_SPEAKING, ev.t)
        if self.state in _HOLDING_FLOOR:
            if self._overlap_start is None:
                self._overlap_start = ev.t
                self._overlap_settled = False
                return [BeginUtterance(ev.t), PauseOutput(self.turn, ev.t)]
            self._overlap_silence = None  # more speech in the same overlap
            self._overlap_settled = False
        return []

    def _on_speech_ended(self, ev: SpeechEnded) -> list[Action]:
        self._user_voiced = False
        if self._overlap_start is not None:
            self._overlap_silence = ev.t
            return [TranscribeOverlap(self.turn)]
        if self.state is not State.USER_SPEAKING:
            return []
        self._silence_start = ev.t
        actions = self._go(State.ENDPOINTING, ev.t)
        if self.policy.speculative:
            self.turn += 1
            self._prepared = True
            actions.append(PrepareReply(self.turn))
        return actions

    def _on_final(self, ev: TranscriptFinal) -> list[Action]:
        if ev.turn != self.turn or not self._prepared:
            return []  # a stale turn's transcript
        if self.state is State.ENDPOINTING:
            if not ev.text.strip():
                # Noise, a cough, a breath: no words, so no turn at all.
                self._reset_endpointing()
                return [DiscardReply(self.turn), DropUtterance(), *self._go(State.LISTENING, ev.t)]
            self._final_text = self.policy.as_heard(ev.text, ev.p_stop)
            self._p_end = ev.p_end
            self._p_done = ev.p_done
            self._final_known = True
            return self._on_tick(ev.t)
        return []

    def _on_tick(self, t: float) -> list[Action]:
        deadline = self.next_deadline()
        if deadline is None or t < deadline:
            return []
        actions: list[Action] = []
        if not self._prepared:
            self.turn += 1
            actions.append(PrepareReply(self.turn))
        actions.append(ReleaseReply(self.turn, t))
        self._reset_endpointing()
        self._prepared = True  # the released reply stays this turn's until it ends
        return actions + self._go(State.THINKING, t)

    def _on_overlap_words(self, ev: OverlapWords) -> list[Action]:
        if ev.turn != self.turn or self._overlap_start is None:
            return []
        previous, self._overlap_partial = self._overlap_partial, None if ev.final else ev.text
        if confirms_barge_in(ev.text, ev.final, previous, ev.agent_said):
            return self._barge_in(ev.t)
        if ev.final and self._overlap_silence is not None:
            self._overlap_settled = True  # only a backchannel or noise: resume after the silence
            return self._on_overlap_tick(ev.t)
        return []

    def _on_overlap_tick(self, t: float) -> list[Action]:
        deadline = self.next_deadline()
        if deadline is None or t < deadline:
            return []
        self._reset_overlap()
        return [ResumeOutput(self.turn), DropUtterance()]

    def _barge_in(self, t: float) -> list[Action]:
        """Real words over the agent: its turn is over, theirs has begun."""
        silence = self._overlap_silence
        actions: list[Action] = [CancelReply(self.turn, t)]
        self._reset_overlap()
        self._prepared = False
        if silence is None:  # still talking
            return actions + self._go(State.USER_SPEAKING, t)
        self.state = State.USER_SPEAKING
        return actions + self._on_speech_ended(SpeechEnded(silence))

    def _reset_overlap(self) -> None:
        self._overlap_partial = None
        self._overlap_start = None
        self._overlap_silence = None
        self._overlap_settled = False

    def _on_reply_over(self, turn: int, t: float) -> list[Action]:
        if turn != self.turn or self.state not in _HOLDING_FLOOR:
            return []
        self._prepared = False
        if self._overlap_start is not None:
            # The reply ended while the user was talking over it: their utterance stands.
            silence = self._overlap_silence
            self._reset_overlap()
            if silence is None:
                return self._go(State.USER_SPEAKING, t)
            self.state = State.USER_SPEAKING
            return self._on_speech_ended(SpeechEnded(silence))
        if self._user_voiced:
            # The user started talking while the agent spoke (no barge-in yet).
            return [BeginUtterance(t), *self._go(State.USER_SPEAKING, t)]
        return self._go(State.LISTENING, t)

    def _reset_endpointing(self) -> None:
        self._silence_start = None
        self._final_text = None
        self._p_end = None
        self._p_done = None
        self._final_known = False
        self._prepared = False
