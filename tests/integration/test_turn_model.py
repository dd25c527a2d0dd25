"""The bundled end-of-turn model (smart-turn v3.2) on real recorded speech."""

from __future__ import annotations

import numpy as np
import pytest

from voice_agent import bundled
from voice_agent.audio.wav import read_wav
from voice_agent.bench.runner import Clip, true_speech_end
from voice_agent.bench.scenarios import split_with_pause
from voice_agent.stages.turn_smart import SmartTurn

TAIL = np.zeros(1600, dtype=np.float32)  # the 100 ms after the last word that the session gives it


@pytest.fixture(scope="module")
def model() -> SmartTurn:
    return SmartTurn(bundled.smart_turn_file())


def _upto(pcm: np.ndarray, end: int) -> np.ndarray:
    return np.concatenate([pcm[:end].astype(np.float32) / 32768.0, TAIL])


@pytest.mark.parametrize("name", ["clean_cmu_cards_003", "clean_cmu_goforward"])
def test_a_finished_answer_sounds_done(model: SmartTurn, clips: dict[str, Clip], name: str) -> None:
    pcm = read_wav(clips[name].path)
    # "7 of clubs" has no full stop and the LLM's p_end is ~0 after it: the voice settles it
    assert model.p_done(_upto(pcm, true_speech_end(pcm))) >= 0.8


def test_a_sentence_cut_mid_way_does_not(model: SmartTurn, clips: dict[str, Clip]) -> None:
    pcm = read_wav(clips["clean_librispeech_test-clean_spk260_horizon"].path)
    _, cut, _ = split_with_pause(pcm, 600)  # where the bench's hesitation scenario pauses it
    assert model.p_done(_upto(pcm, cut)) < 0.5


def test_silence_alone_is_not_an_error(model: SmartTurn) -> None:
    assert 0.0 <= model.p_done(np.zeros(100, dtype=np.float32)) <= 1.0


def test_its_features_keep_numpys_blas_to_one_thread(model: SmartTurn, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenBLAS helper threads woken here would spin on into the LLM call that follows."""
    from threadpoolctl import threadpool_info

    compute = model._features
    seen: list[int] = []

    def features(*args: object, **kwargs: object) -> np.ndarray:
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return compute(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "_features", features)
    assert 0.0 <= model.p_done(np.zeros(16000, dtype=np.float32)) <= 1.0
    assert seen and set(seen) == {1}, seen


def test_sessions_scoring_at_once_leave_numpys_blas_as_it_was(model: SmartTurn) -> None:
    """The limit is process-wide: interleaved calls must not restore each other's limit for good
    (one BLAS thread for the whole process made Whisper ~60 % slower here)."""
    import threading

    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    audio = np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1
    callers = [threading.Thread(target=lambda: [model.p_done(audio) for _ in range(20)]) for _ in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert blas_threads() == before
