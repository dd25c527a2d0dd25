"""Endpointing policy: how much silence ends the user's turn.

The silence needed depends on whether the words so far look finished:
a sentence that ends in `.`, `?` or `!` is probably complete; one that ends
on a comma, a conjunction or a filler ("and", "um", "I want to") probably is
not. Whisper's punctuation carries much of this signal for free; the resident
LLM's probability of ending the user's message right there (`p_end`) adds
the rest: "And so my fellow Americans ask not" has no punctuation and p_end
~0, "Go forward ten meters." has both cues for "done". Where the words leave
it in doubt ("7 of clubs": no full stop, p_end ~0 although the list is
over), an end-of-turn model that hears the voice (`p_done`) may settle it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words after which a speaker almost always goes on.
_CONTINUATION_WORDS = frozenset(
    [
        "and",
        "or",
        "but",
        "because",
        "which",
        "whose",
        "while",
        "if",
        "to",
        "of",
        "for",
        "with",
        "from",
        "at",
        "by",
        "than",
        "the",
        "a",
        "an",
        "my",
        "your",
        "our",
        "their",
        "its",
        "um",
        "uh",
        "erm",
        "er",
        "hmm",
        "i",
        "i'm",
        "we",
        "they",
        "wanna",
        "gonna",
        "very",
    ]
)

_WORD_RE = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class EndpointPolicy:
    """Silence thresholds, in milliseconds, for ending a user turn."""

    # Text that ends like a finished sentence. In the eval clips, pauses inside an
    # utterance after a finished-looking sentence last 420-680 ms (a reader between
    # sentences): 450 ms already answered inside all but the 420 ms one, 300 answers
    # inside that one too. Turns p50 511 -> 426 ms (bench, back to back).
    complete_ms: float = 300.0
    unknown_ms: float = 600.0  # no transcript yet, or mixed cues
    incomplete_ms: float = 1100.0  # trailing comma, conjunction or filler
    p_end_low: float = 0.01  # below this the LLM expects more words
    voice_done: float = 0.8  # the end-of-turn model's P(done) that settles a doubt the words left
    # Below this p_end the LLM is all but sure more words follow ("The horizon
    # seems to be" 7e-11, "He was not" 3e-9, "...Americans asked not" 1.5e-7),
    # and the voice may not overrule it; finished lists score 8e-7 to 8e-5.
    p_end_continues: float = 3e-7
    # Whisper writes a full stop wherever the voice pauses, but is less sure of one
    # it guesses. Offline, on the eval clips cut mid-sentence, it gave its stop
    # 0.28-0.48 at 4 of 11 punctuated cuts ("...and rather self.", "...a more amiable
    # woman."), 0.52 or more at 12 of 12 true ends. In the session (stop written on
    # the partial at the pause) 2 of 13 true ends fell under 0.5 ("1, 2, 3." 0.42):
    # they wait the middle wait. Hesitation bench 0.5-0.625 -> 0.25 premature.
    stop_sure: float = 0.5
    speculative: bool = True  # prepare the reply while the silence lasts

    def as_heard(self, text: str, p_stop: float | None) -> str:
        """`text` as the endpoint should read it: without a final mark the recogniser only guessed."""
        if p_stop is not None and p_stop < self.stop_sure:
            return text.rstrip().rstrip(".?!")
        return text

    def silence_needed_ms(self, text: str | None, p_end: float | None = None, p_done: float | None = None) -> float:
        """Silence that ends the turn, given the transcript so far, the LLM's p_end and the voice's p_done.

        The voice only ever shortens a wait the words left in doubt ("7 of
        clubs", no full stop, p_end ~1e-6): it cannot hear grammar ("10 of"
        sounds finished to it), so a trailing "of" or comma, or a p_end that
        all but rules the end out, still waits long.
        """
        needed = self._by_words(text, p_end)
        if self.voice_may_shorten(text, p_end) and p_done is not None and p_done >= self.voice_done:
            return self.complete_ms
        return needed

    def words_say_done(self, text: str | None, p_end: float | None = None) -> bool:
        """True if the words alone (punctuation and p_end) call for the shortest wait."""
        return text is not None and self._by_words(text, p_end) <= self.complete_ms

    def voice_may_shorten(self, text: str | None, p_end: float | None = None) -> bool:
        """True if the end-of-turn model's verdict could change the wait (worth running it)."""
        if completeness(text) is False or (p_end is not None and p_end < self.p_end_continues):
            return False
        return self._by_words(text, p_end) > self.complete_ms

    def _by_words(self, text: str | None, p_end: float | None) -> float:
        cue = completeness(text)
        if cue is False:
            return self.incomplete_ms
        if p_end is None:
            return self.complete_ms if cue else self.unknown_ms
        expects_more = p_end < self.p_end_low
        if cue:  # punctuated as finished
            return self.unknown_ms if expects_more else self.complete_ms
        return self.incomplete_ms if expects_more else self.unknown_ms


def completeness(text: str | None) -> bool | None:
    """True if `text` looks like a finished utterance, False if not, None if unclear."""
    if text is None:
        return None
    stripped = text.strip()
    if not stripped:
        return None
    words = _WORD_RE.findall(stripped.lower())
    if stripped.endswith(("...", "…", ",", ";", ":", "-", "—")):
        return False
    if words and words[-1] in _CONTINUATION_WORDS:
        return False
    if stripped.endswith((".", "?", "!")):
        return True
    return None


# Short replies that keep the speaker going rather than take the floor.
BACKCHANNELS = frozenset(
    "yeah yes yep yup ya uh-huh uh huh mm-hmm mhm mm hmm hm right okay ok alright sure "  # noqa: SIM905
    "i see got it cool wow oh ah really nice true exactly totally gotcha".split()
)


# Sounds rather than words, as Whisper spells them: "ahh", "mmm", "M-M-M", "hmm", "uh".
_SOUND = re.compile(r"^(?:[aeou]h+|h*[aeou]+h*|m+|h?m+h?m*|huh|aha)$")


def is_backchannel(text: str) -> bool:
    """True if `text` has no word beyond backchannels and non-word sounds.

    Whisper writes short backchannels oddly ("I see" as "I.E.", "mm-hmm" as
    "M-M-M-M."), so each piece between hyphens or dots is judged alone.
    """
    pieces = re.findall(r"[a-z0-9]+", text.lower().replace("'", ""))  # "1." is the word "one"
    return all(p in BACKCHANNELS or _SOUND.match(p) for p in pieces)


# What Whisper writes for a fragment of sound it cannot make out: a partial
# transcript cut mid-"right" came back "Thank you.", mid-"I see" "Bye.".
_PHANTOMS = frozenset(["thank you", "thanks", "thank you very much", "thanks for watching", "bye", "you"])


def is_phantom(text: str) -> bool:
    """True if `text` is one of Whisper's stock phrases for unclear audio (weak evidence of words)."""
    return " ".join(re.findall(r"[a-z]+", text.lower())) in _PHANTOMS


def confirms_barge_in(text: str, final: bool, previous: str | None = None, agent_said: str = "") -> bool:
    """True if words heard over the agent end its turn.

    The output is already paused, so waiting costs nothing audible. A final
    transcript (of the whole sound) decides on its own. A partial one (of a
    sound still going on, often cut mid-word, sometimes padded with words
    Whisper imagined: "I see" came back "I see what happened.") confirms only
    when it and the `previous` partial of the same overlap both hold two real
    words or more; one word ("Ride." for a cut-off "right") waits.

    Words that are all among `agent_said` (the reply's words played just
    before the pause) are the agent's own voice come back through a speaker
    the echo guard did not fully cancel ("next." heard as the agent said
    "next"); a user who interrupts by repeating them is the price.
    """
    if is_backchannel(text) or is_own_echo(text, agent_said):
        return False
    if final:
        return True
    return previous is not None and _two_real_words(previous) and _two_real_words(text)


def is_own_echo(text: str, agent_said: str) -> bool:
    """True if every word of `text` is one of the words in `agent_said` (and there is one)."""
    heard = words_of(text)
    return bool(heard) and set(heard) <= set(words_of(agent_said))


def words_of(text: str) -> list[str]:
    """The words of `text`, lower case, without punctuation ("I'm" stays one word)."""
    return re.findall(r"[a-z0-9']+", text.lower())


def _two_real_words(text: str) -> bool:
    """Two words or more, and more than a backchannel or one of Whisper's stock phrases."""
    if is_backchannel(text) or is_phantom(text):
        return False
    return len(words_of(text)) >= 2


@dataclass(frozen=True)
class BargeInPolicy:
    """How the agent treats speech while it holds the floor (thinking or speaking)."""

    resume_after_ms: float = 350.0  # silence after a backchannel/noise before speaking on
    max_pause_ms: float = 4000.0  # a pause never lasts longer than this without real words
