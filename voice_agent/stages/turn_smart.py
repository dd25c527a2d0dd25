"""Smart Turn v3.2: a learned end-of-turn model that hears the voice, not the words.

The ONNX file ships as a data file of the `pipecat-ai` wheel (BSD-2-Clause);
setup takes that file out of it, and nothing imports pipecat. Input, as the model was trained:
the last 8 s of 16 kHz audio, left-padded with zeros, normalised to zero mean
and unit variance, as Whisper's 80-band log-mel (faster-whisper computes the
same features). Output: P(the speaker is done).

It cannot hear grammar ("10 of" sounds done to it) and it reads more
trailing silence as more "done", so the session feeds it a fixed 100 ms
after the last voiced frame and the endpoint policy only lets it shorten a
wait the words left in doubt. About 45 ms per call on
one core.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .base import ModelMissingError, StageError

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 8 * SAMPLE_RATE


class SmartTurn:
    """P(done) from the sound of the last 8 s of an utterance."""

    def __init__(self, model: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor
        from threadpoolctl import ThreadpoolController

        if not Path(model).is_file():
            raise ModelMissingError(f"no smart-turn model at {model}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        self._features = FeatureExtractor(feature_size=80)
        # The log-mel's matrix product goes through numpy's BLAS (OpenBLAS). With its
        # helper threads woken, they spin on after it and starve the LLM call that
        # follows this one on the reply's path: measured here, its 6-token prompt
        # batch took 88-96 ms instead of 28. On the calling thread alone it does not.
        self._blas = ThreadpoolController()
        self._lock = threading.Lock()  # one run at a time: sessions share the model

    def p_done(self, audio: np.ndarray) -> float:
        """P(the speaker is done) for float32 16 kHz audio ending ~100 ms after their last word."""
        x = np.asarray(audio, dtype=np.float32)[-WINDOW_SAMPLES:]
        x = np.pad(x, (WINDOW_SAMPLES - len(x), 0))
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        # Under the lock: the BLAS limit is process-wide, saved and restored around the
        # features, and two calls interleaving could restore each other's "1" for good.
        with self._lock:
            with self._blas.limit(limits=1, user_api="blas"):
                features = self._features(x, padding=0)[:, : WINDOW_SAMPLES // 160].astype(np.float32)
            try:
                out = self._session.run(None, {"input_features": features[None]})
            except Exception as exc:  # onnxruntime raises its own types
                raise StageError(f"the end-of-turn model failed: {exc}") from exc
        return float(np.asarray(out[0]).reshape(-1)[0])
