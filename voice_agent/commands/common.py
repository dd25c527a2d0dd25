"""Options shared by the subcommands that load models."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import ModelConfig
from ..stages.llm_factory import API_KEY_ENV, BACKENDS


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--asr-model, --llm, --llm-model, --llm-url, --llm-api-key, --voice, --threads."""
    p.add_argument("--asr-model", type=Path, help="CTranslate2 Whisper directory (default: bundled tiny.en)")
    p.add_argument("--llm", choices=BACKENDS, default="llama", help="embedded llama.cpp or an OpenAI-compatible server")
    p.add_argument(
        "--llm-model",
        help="GGUF file (default: bundled SmolLM2-135M-Instruct); with --llm openai: the served model's name",
    )
    p.add_argument("--llm-url", help="with --llm openai: the server's base URL, e.g. http://host:8000/v1")
    p.add_argument("--llm-api-key", help=f"with --llm openai: bearer token (default: ${API_KEY_ENV})")
    p.add_argument("--voice", type=Path, help="Piper voice .onnx (default: bundled en_US-joe-medium)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per model (default 2)")
    p.add_argument(
        "--llm-contexts", type=int, default=2, help="embedded LLM contexts: replies of that many sessions overlap"
    )


def model_config(args: argparse.Namespace) -> ModelConfig:
    """The ModelConfig the model options describe."""
    backend = getattr(args, "llm", "llama")
    llm_model: Path | str | None = args.llm_model
    if backend == "llama" and llm_model:
        llm_model = Path(llm_model)
    return ModelConfig(
        asr_model=args.asr_model,
        llm_model=llm_model,
        voice=args.voice,
        threads=args.threads,
        llm_backend=backend,
        llm_url=getattr(args, "llm_url", None),
        llm_api_key=getattr(args, "llm_api_key", None),
        llm_contexts=getattr(args, "llm_contexts", 2),
    )
