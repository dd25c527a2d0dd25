"""Options shared by the subcommands that load models."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import ModelConfig


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--asr-model, --llm-model, --voice, --threads."""
    p.add_argument("--asr-model", type=Path, help="CTranslate2 Whisper directory (default: bundled tiny.en)")
    p.add_argument("--llm-model", type=Path, help="GGUF file (default: bundled SmolLM2-135M-Instruct)")
    p.add_argument("--voice", type=Path, help="Piper voice .onnx (default: bundled en_US-joe-medium)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per model (default 2)")


def model_config(args: argparse.Namespace) -> ModelConfig:
    """The ModelConfig the model options describe."""
    return ModelConfig(asr_model=args.asr_model, llm_model=args.llm_model, voice=args.voice, threads=args.threads)
