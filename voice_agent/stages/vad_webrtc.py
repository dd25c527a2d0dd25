"""Voice activity detection with WebRTC's VAD (webrtcvad-wheels)."""

from __future__ import annotations

import numpy as np
import webrtcvad

from ..audio.pcm import SAMPLE_RATE


class WebRtcVad:
    """WebRTC VAD on 20 ms frames at 16 kHz; aggressiveness 0 (lenient) to 3."""

    frame_samples = SAMPLE_RATE * 20 // 1000

    def __init__(self, aggressiveness: int = 2) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: np.ndarray) -> bool:
        """True if this 20 ms int16 frame holds speech."""
        if len(frame) != self.frame_samples:
            raise ValueError(f"WebRTC VAD needs {self.frame_samples}-sample frames, got {len(frame)}")
        return bool(self._vad.is_speech(frame.astype("<i2").tobytes(), SAMPLE_RATE))
