"""Configuration: model paths, prompts and timing, with the bundled defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .core.policy import EndpointPolicy
from .core.vadgate import GateConfig

DEFAULT_SYSTEM_PROMPT = (
    "You are Sam, a warm and curious person having a casual voice conversation. "
    "Answer in one or two short spoken sentences, the way people talk. "
    "Never use lists, markdown, emoji or stage directions."
)


@dataclass
class ModelConfig:
    """Which model files to load (None: the bundled default)."""

    asr_model: Path | None = None  # CTranslate2 Whisper directory
    llm_model: Path | str | None = None  # GGUF file, or the served model's name with llm_backend="openai"
    llm_backend: str = "llama"  # or "openai": an OpenAI-compatible server such as vLLM
    llm_url: str | None = None  # e.g. http://127.0.0.1:8000/v1
    llm_api_key: str | None = None
    voice: Path | None = None  # Piper .onnx (with .onnx.json beside it)
    turn_model: Path | None = None  # smart-turn v3 ONNX (end of turn from the voice)
    threads: int = 2  # Whisper's CPU threads
    # llama.cpp's threads meet at a barrier for every layer: with as many threads
    # as cores, any other busy thread (TTS, ASR, another session) stalls them all
    # (measured here under load: 124 ms/token with 2 threads, 26 with 1).
    llm_threads: int = field(default_factory=lambda: max(1, min(4, (os.cpu_count() or 2) - 1)))
    llm_max_tokens: int = 48
    # Contexts of the embedded model: more lets sessions' replies overlap
    # instead of queueing (about 140 MB each for the bundled 135M model).
    llm_contexts: int = 2


@dataclass
class SessionConfig:
    """Per-conversation behaviour."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    mode: str = "streaming"  # or "sequential": the naive baseline for the benchmark
    policy: EndpointPolicy = field(default_factory=EndpointPolicy)
    # While the user has the floor the silence is called at 120 ms, not 180: that
    # only starts the speculative reply sooner, since the endpoint counts its
    # silence from the last voiced frame. Shorter costs speculations thrown away:
    # over the 18 clean clips WebRTC's VAD makes 7 extra speech ends at 120-180
    # ms, 9 at 100, 11 at 80 (which made long phone turns 80-140 ms slower).
    gate: GateConfig = field(default_factory=lambda: GateConfig(end_ms=120))
    # While the agent holds the floor a shorter onset makes barge-in crisp; the
    # echo guard keeps the agent's own voice from passing it. The silence after
    # speech over the agent is called after 180 ms (it decides a resume).
    gate_holding_floor: GateConfig = field(default_factory=lambda: GateConfig(start_ms=80, start_window_ms=120))
    llm_endpointing: bool = True  # ask the LLM how likely the user's words end their turn
    voice_endpointing: bool = True  # let the end-of-turn model hear "done" when the words leave it in doubt
    echo_guard: bool = True  # off with headphones: nothing of the output reaches the mic
    vad_aggressiveness: int = 2
    # A frame the VAD calls voiced this far (dB) under the speaker's level is a room tail,
    # not speech (audio/level.py). Off by default: at 30 dB the bench's turns p50 was
    # 408 and 426 ms against 472, 436 and 454 without (median VAD end 40 ms after the
    # true end against 140), but the longer silences between phrases drew a reply
    # inside the 13 s LibriSpeech sentence in both runs (in 1 of the 3 without).
    level_gate_db: float | None = None
    preroll_ms: int = 240  # audio kept before the VAD's speech start
    partial_every_ms: int = 300  # new speech between partial transcripts (0: none)
    max_output_lead_s: float = 0.4  # how far audio may be sent ahead of playout
    output_piece_ms: int = 100  # size of each audio message sent
    max_history_messages: int = 12
