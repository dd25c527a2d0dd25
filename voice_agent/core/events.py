"""Timestamped events fed to the TurnManager and the actions it returns.

Every timestamp is in seconds on the session's injected clock; the core never
reads a clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class State(str, Enum):
    """Conversation states, as shown to users and transports."""

    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    ENDPOINTING = "endpointing"  # user silent, not yet sure the turn is over
    THINKING = "thinking"
    SPEAKING = "speaking"


# ---- events (inputs) -------------------------------------------------------


@dataclass(frozen=True)
class SpeechStarted:
    """VAD hysteresis confirmed user speech; `t` is when the speech began."""

    t: float


@dataclass(frozen=True)
class SpeechEnded:
    """VAD hysteresis confirmed silence; `t` is when the silence began."""

    t: float


@dataclass(frozen=True)
class VoiceBlip:
    """A voiced frame ending at `t` that was too short to count as speech.

    While the user is silent it restarts the silence count: a pause is only as
    long as its unvoiced stretch, even if the next word has not yet held long
    enough to pass the speech-start hysteresis.
    """

    t: float


@dataclass(frozen=True)
class QuietVoice:
    """A frame ending at `t` the VAD called voiced but far under the speaker's level.

    Not a word a listener would hear (a room tail, a breath): it does not keep
    the speech going, but where the words leave the end in doubt the silence
    is counted from after it, as it was before the level was known.
    """

    t: float


@dataclass(frozen=True)
class TranscriptFinal:
    """The final transcript of the audio a reply for `turn` was prepared on.

    `p_end` is the LLM's probability that the user's message ends there, and
    `p_done` the end-of-turn model's from the sound of the voice (each None
    when no model scored it); `p_stop` the recogniser's probability of the
    full stop (or ? or !) that ends `text`, when it wrote one and tells.
    """

    t: float
    turn: int
    text: str
    p_end: float | None = None
    p_done: float | None = None
    p_stop: float | None = None


@dataclass(frozen=True)
class OverlapWords:
    """What the user said while the agent held the floor (`final`: their speech ended).

    `agent_said` is the reply's own words played around the moment the output
    paused: a transcript made only of those is the agent's echo, not the user.
    """

    t: float
    turn: int
    text: str
    final: bool
    agent_said: str = ""


@dataclass(frozen=True)
class ReplyAudioStarted:
    """The first audio of `turn` left the session."""

    t: float
    turn: int


@dataclass(frozen=True)
class ReplyFinished:
    """All audio of `turn` has played out (or the reply produced none)."""

    t: float
    turn: int


@dataclass(frozen=True)
class ReplyFailed:
    """A stage failed while producing `turn`; the turn is over."""

    t: float
    turn: int
    reason: str


@dataclass(frozen=True)
class Tick:
    """Time has advanced to `t` (the session calls this at next_deadline())."""

    t: float


Event = (
    SpeechStarted
    | SpeechEnded
    | VoiceBlip
    | QuietVoice
    | TranscriptFinal
    | OverlapWords
    | ReplyAudioStarted
    | ReplyFinished
    | ReplyFailed
    | Tick
)


# ---- actions (outputs) -----------------------------------------------------


@dataclass(frozen=True)
class BeginUtterance:
    """Start collecting a user utterance from `t` (the session adds pre-roll)."""

    t: float


@dataclass(frozen=True)
class PrepareReply:
    """Transcribe the utterance so far and prepare reply `turn`, holding its audio."""

    turn: int


@dataclass(frozen=True)
class ReleaseReply:
    """The user's turn is over: let the audio of `turn` out and commit the utterance."""

    turn: int
    t: float


@dataclass(frozen=True)
class DiscardReply:
    """The user went on (or said nothing): drop all work of `turn` silently."""

    turn: int


@dataclass(frozen=True)
class PauseOutput:
    """User speech over the agent: stop sending `turn`, clear the transport, rewind to what was heard."""

    turn: int
    t: float


@dataclass(frozen=True)
class ResumeOutput:
    """It was only a backchannel or noise: play `turn` on from where it paused."""

    turn: int


@dataclass(frozen=True)
class CancelReply:
    """Barge-in confirmed: stop `turn` everywhere and commit only what was heard."""

    turn: int
    t: float


@dataclass(frozen=True)
class TranscribeOverlap:
    """Transcribe the speech heard over `turn` now; answer with OverlapWords(final=True)."""

    turn: int


@dataclass(frozen=True)
class DropUtterance:
    """The utterance held no words: forget its audio."""


@dataclass(frozen=True)
class StateChanged:
    """The conversation state changed."""

    state: State
    t: float


Action = (
    BeginUtterance
    | PrepareReply
    | ReleaseReply
    | DiscardReply
    | PauseOutput
    | ResumeOutput
    | CancelReply
    | TranscribeOverlap
    | DropUtterance
    | StateChanged
)
