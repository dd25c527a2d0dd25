"""The speaker's level, so that a faint room tail is not taken for their voice.

WebRTC's VAD calls a recording's faint tail speech: breath, room tone and
reverb 35-45 dB under the words kept it "voiced" for 60-260 ms after the last
word in 8 of the 18 clean eval clips. A frame far below the level the speaker
was just talking at is not a word a listener would hear. The level follows
the loudest voiced frames and sinks slowly, so a quieter next utterance (or a
soft barge-in) still counts.
"""

from __future__ import annotations

import numpy as np

FRAME_MS = 20
# 30 dB keeps soft word endings ("meters"' s, within 25 dB) and drops room tails.
BELOW_LEVEL_DB = 30.0
LEVEL_DECAY_DB_PER_S = 5.0  # how fast the remembered level sinks (a louder frame lifts it at once)
SILENT_DB = -200.0


def frame_db(frame: np.ndarray) -> float:
    """Mean power of an int16 frame in dB (re 1 LSB²); digital silence is -200."""
    power = float(np.mean(np.square(frame, dtype=np.float64))) if len(frame) else 0.0
    return 10.0 * float(np.log10(power)) if power > 0 else SILENT_DB


class SpeechLevel:
    """The level (dB re 1 LSB²) the speaker is talking at: a peak that sinks slowly."""

    def __init__(self, frame_ms: int = FRAME_MS, decay_db_per_s: float = LEVEL_DECAY_DB_PER_S) -> None:
        self.level_db = SILENT_DB
        self._decay = decay_db_per_s * frame_ms / 1000

    def update(self, frame_db: float, voiced: bool) -> float:
        """Account for one frame (only voiced frames can lift the level); return the level."""
        self.level_db -= self._decay
        if voiced and frame_db > self.level_db:
            self.level_db = frame_db
        return self.level_db


class LevelGate:
    """Says whether a frame the VAD calls voiced is loud enough to be the speaker's words."""

    def __init__(self, below_level_db: float = BELOW_LEVEL_DB) -> None:
        self.below_db = below_level_db
        self._level = SpeechLevel()

    def loud(self, frame: np.ndarray, voiced: bool) -> bool:
        """Account for one frame and its VAD verdict; True if voiced and within `below_db` of the level."""
        power = frame_db(frame)
        level = self._level.update(power, voiced)
        return voiced and power >= level - self.below_db
