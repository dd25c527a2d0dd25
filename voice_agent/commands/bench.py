"""`voice-agent bench`: latency on recorded speech fed in real time."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ..config import SessionConfig
from .common import add_model_args, model_config


def register(sub: Any) -> None:
    """Add the `bench` parser."""
    p = sub.add_parser("bench", help="latency benchmark on recorded speech fed in real time")
    p.add_argument("--manifest", type=Path, required=True, help="TSV with file and transcript columns")
    p.add_argument("--clips-dir", type=Path, help="where the manifest's files are (default: beside it)")
    p.add_argument("--match", help="only clips whose name matches this glob, e.g. 'clean_*'")
    p.add_argument("--mode", choices=["streaming", "sequential", "both"], default="streaming")
    p.add_argument("--json", type=Path, help="write the full result here")
    p.add_argument("--save-audio", type=Path, help="write each reply as WAV into this folder")
    p.add_argument("--limit", type=int, help="only the first N clips")
    add_model_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    return asyncio.run(_bench(args))


async def _bench(args: argparse.Namespace) -> int:
    from ..bench.report import run_bench, write_json
    from ..bench.runner import read_manifest
    from ..models import load_models

    clips = read_manifest(args.manifest, args.clips_dir, args.match)
    if args.limit:
        clips = clips[: args.limit]
    if not clips:
        print("voice-agent bench: no clips matched", file=sys.stderr)
        return 2
    missing = [c.path for c in clips if not c.path.is_file()]
    if missing:
        print(f"voice-agent bench: missing clip files: {', '.join(map(str, missing[:5]))}", file=sys.stderr)
        return 2
    modes = ["streaming", "sequential"] if args.mode == "both" else [args.mode]
    models = load_models(model_config(args))
    try:
        result = await run_bench(models, clips, modes, SessionConfig(), save_dir=args.save_audio)
    finally:
        models.close()
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0
