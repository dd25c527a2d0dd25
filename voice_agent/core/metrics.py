"""Per-turn latency timeline: every mark on the session's one clock."""

from __future__ import annotations

from dataclasses import dataclass, field

# The order a turn passes through; each is the first time the mark was reached.
MARKS = (
    "speech_end_true",  # bench only: when the frame with the real end of speech was fed
    "vad_end",  # when the VAD decided the user had stopped (silence start)
    "endpoint",  # when the turn was declared over and the reply released
    "asr_final",
    "turn_scored",  # the end-of-turn scores of the words (LLM) and voice are in
    "llm_first_token",
    "first_clause",
    "first_tts_audio",
    "first_audio_out",
)


@dataclass
class TurnTimeline:
    """Timestamps (seconds, session clock) of one reply's milestones."""

    turn: int
    marks: dict[str, float] = field(default_factory=dict)
    user_text: str = ""
    p_end: float | None = None  # the LLM's end-of-turn probability for user_text
    p_done: float | None = None  # the end-of-turn model's, when it was asked
    p_stop: float | None = None  # the recogniser's for the final full stop, when it wrote one
    reply_text: str = ""  # what the listener heard
    interrupted: bool = False  # cut off by a barge-in
    voiced_text: str = ""  # when cut off: every clause voiced for the listener so far, heard or not
    cut_at_s: float | None = None  # when cut off: how much of the reply's audio the session took as heard
    audio_seconds: float = 0.0

    def mark(self, name: str, t: float) -> None:
        """Record `name` at `t` unless it was already recorded."""
        if name not in MARKS:
            raise KeyError(name)
        self.marks.setdefault(name, t)

    def breakdown_ms(self, origin: str = "vad_end") -> dict[str, float]:
        """Each mark relative to `origin`, in milliseconds (missing marks left out)."""
        base = self.marks.get(origin)
        if base is None:
            return {}
        return {k: round((self.marks[k] - base) * 1000.0, 1) for k in MARKS if k in self.marks}

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view: absolute marks and the breakdown from the VAD end."""
        return {
            "turn": self.turn,
            "user_text": self.user_text,
            "p_end": None if self.p_end is None else round(self.p_end, 4),
            "p_done": None if self.p_done is None else round(self.p_done, 4),
            "p_stop": None if self.p_stop is None else round(self.p_stop, 4),
            "reply_text": self.reply_text,
            "interrupted": self.interrupted,
            "audio_seconds": round(self.audio_seconds, 3),
            "breakdown_ms": self.breakdown_ms(),
        }
