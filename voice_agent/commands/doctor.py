"""`voice-agent doctor`: load and warm every model, report what is missing."""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_model_args, model_config


def register(sub: Any) -> None:
    """Add the `doctor` parser."""
    p = sub.add_parser("doctor", help="check that every model and helper program is in place")
    add_model_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load everything once and print the timings."""
    from ..models import load_models

    models = load_models(model_config(args))
    try:
        took = ", ".join(f"{k} {v:.2f} s" for k, v in models.load_seconds.items())
        print(f"ok: ASR, LLM, TTS and end-of-turn model loaded and warmed up ({took})")
    finally:
        models.close()
    return 0
