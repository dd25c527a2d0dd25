"""Choose and build the LLM backend: the embedded llama.cpp model or an OpenAI-compatible server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .base import Llm, StageError

BACKENDS = ("llama", "openai")
API_KEY_ENV = "VOICE_AGENT_LLM_API_KEY"


def make_llm(config: Any) -> Llm:
    """The Llm that `config` (a ModelConfig or the CLI's argparse Namespace) describes.

    Reads `llm_backend` (or `llm`), `llm_model`, `llm_url`, `llm_api_key`,
    `threads` and `llm_max_tokens`; absent attributes mean the bundled default.
    """
    backend = getattr(config, "llm_backend", None) or getattr(config, "llm", None) or "llama"
    model = getattr(config, "llm_model", None)
    max_tokens = int(getattr(config, "llm_max_tokens", 48) or 48)
    if backend == "llama":
        from .. import bundled
        from .llm_llama import LlamaLlm

        path = Path(model) if model else bundled.llm_model_file()
        threads = getattr(config, "llm_threads", None) or getattr(config, "threads", None) or 1
        contexts = int(getattr(config, "llm_contexts", 1) or 1)
        if contexts > 1:
            from .llm_llama_pool import LlamaPool

            return LlamaPool(path, contexts, n_threads=int(threads), max_tokens=max_tokens)
        return LlamaLlm(path, n_threads=int(threads), max_tokens=max_tokens)
    if backend == "openai":
        from .llm_openai import OpenAiLlm

        url = getattr(config, "llm_url", None)
        if not url or not model:
            raise StageError("--llm openai needs --llm-url http://host:8000/v1 and --llm-model NAME")
        api_key = getattr(config, "llm_api_key", None) or os.environ.get(API_KEY_ENV)
        return OpenAiLlm(str(url), str(model), api_key, max_tokens=max_tokens)
    raise StageError(f"unknown LLM backend {backend!r}: choose one of {', '.join(BACKENDS)}")
