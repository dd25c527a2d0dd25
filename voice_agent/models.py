"""Load the models once per process; every session shares them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from . import bundled
from .config import DEFAULT_SYSTEM_PROMPT, ModelConfig
from .priority import CpuPriority, Level
from .stages.base import Asr, Llm, Message, Tts, TurnModel, Vad
from .stages.vad_webrtc import WebRtcVad

log = logging.getLogger(__name__)


@dataclass
class Models:
    """The shared model instances, plus a factory for per-session VADs."""

    asr: Asr
    llm: Llm
    tts: Tts
    turn_model: TurnModel | None = None  # hears whether the user is done (None: words alone decide)
    make_vad: Callable[[int], Vad] = field(default=WebRtcVad)
    priority: CpuPriority = field(default_factory=CpuPriority)
    closers: list[Callable[[], None]] = field(default_factory=list)
    load_seconds: dict[str, float] = field(default_factory=dict)

    def close(self) -> None:
        """Stop helper processes (Piper's server)."""
        for close in self.closers:
            close()
        self.closers.clear()


def load_models(config: ModelConfig | None = None, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> Models:
    """Load ASR, LLM, TTS and the end-of-turn model (bundled defaults unless configured); warm them up."""
    from .stages.asr_whisper import WhisperAsr
    from .stages.llm_factory import make_llm
    from .stages.tts_piper import PiperServer, PiperTts
    from .stages.turn_smart import SmartTurn

    config = config or ModelConfig()
    took: dict[str, float] = {}

    t = time.perf_counter()
    server = PiperServer(config.voice or bundled.piper_voice_file())
    server.start()  # a separate process: it loads while the others do
    took["tts_start"] = time.perf_counter() - t
    try:
        t = time.perf_counter()
        asr = WhisperAsr(config.asr_model or bundled.whisper_model_dir(), cpu_threads=config.threads)
        took["asr_load"] = time.perf_counter() - t
        t = time.perf_counter()
        llm = make_llm(config)
        took["llm_load"] = time.perf_counter() - t
        tts = PiperTts(server)
        t = time.perf_counter()
        turn_model = SmartTurn(config.turn_model or bundled.smart_turn_file())
        took["turn_model_load"] = time.perf_counter() - t
        models = Models(asr=asr, llm=llm, tts=tts, turn_model=turn_model, closers=[server.stop], load_seconds=took)
        for context in getattr(llm, "contexts", [llm]):
            if hasattr(context, "runs_alone"):  # the embedded llama.cpp: spare cores speed up a lone reply
                context.runs_alone = partial(models.priority.only, Level.GENERATION)
        warm_up(models, system_prompt)
    except BaseException:
        server.stop()
        raise
    return models


def warm_up(models: Models, system_prompt: str) -> None:
    """First calls are slow (allocations, caches): pay for them before any user."""
    t = time.perf_counter()
    models.asr.transcribe(np.zeros(16000, dtype=np.float32), final=True)
    models.llm.warm([Message("system", system_prompt)])
    models.tts.synthesize("Hello.")
    if models.turn_model is not None:
        models.turn_model.p_done(np.zeros(16000, dtype=np.float32))
    models.load_seconds["warm_up"] = time.perf_counter() - t
    log.info("models ready: %s", {k: round(v, 2) for k, v in models.load_seconds.items()})
