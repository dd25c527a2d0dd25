"""`voice-agent respond`: one spoken turn from a recording."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from ..config import SessionConfig
from .common import add_model_args, model_config


def register(sub: Any) -> None:
    """Add the `respond` parser."""
    p = sub.add_parser("respond", help="speak a WAV file to the agent and save its spoken reply")
    p.add_argument("wav", type=Path, help="your side of the conversation (any WAV)")
    p.add_argument("--out", type=Path, default=Path("reply.wav"), help="where to write the reply")
    add_model_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Play the clip to a fresh session in real time and report the exchange."""
    return asyncio.run(_respond(args))


async def _respond(args: argparse.Namespace) -> int:
    from ..bench.runner import Clip, run_clip
    from ..models import load_models

    models = load_models(model_config(args))
    try:
        rec = await run_clip(models, Clip(args.wav.stem, args.wav, ""), SessionConfig(), save_to=args.out)
    finally:
        models.close()
    print(f"you said:   {rec['transcript']!r}")
    print(f"agent said: {rec['reply']!r}")
    print(f"voice-to-voice: {rec['voice_to_voice_ms']} ms; breakdown {rec['breakdown_ms']}")
    if rec["replies"]:
        print(f"reply audio: {args.out}")
    return 0
