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
    p.add_argument(
        "--sessions",
        help="load test: N simulated clients at once (or a list, e.g. 1,2,4,6), staggered, each playing clips",
    )
    p.add_argument(
        "--scenarios",
        help="duplex scenarios to run after the turns: all, or a list of barge_in,backchannel,hesitation,echo",
    )
    p.add_argument(
        "--transport",
        choices=["direct", "twilio"],
        default="direct",
        help="twilio: through the phone bridge (8 kHz mu-law) with a simulated caller",
    )
    p.add_argument("--trials", type=int, default=8, help="with --scenarios: trials per scenario (default 8)")
    p.add_argument("--per-client", type=int, default=2, help="with --sessions: clips each client plays (default 2)")
    p.add_argument("--stagger", type=float, default=0.7, help="with --sessions: seconds between client starts")
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
    counts = None
    if args.sessions:
        from ..bench.load import parse_counts

        try:
            counts = parse_counts(args.sessions)
        except ValueError as exc:
            print(f"voice-agent bench: {exc}", file=sys.stderr)
            return 2
    models = load_models(model_config(args))
    try:
        if args.transport == "twilio":
            from ..bench.phone import run_phone_bench

            result = await run_phone_bench(models, clips, SessionConfig())
        elif counts:
            from ..bench.load import run_load

            result = await run_load(models, clips, counts, SessionConfig(), args.stagger, args.per_client)
        else:
            result = await run_bench(models, clips, modes, SessionConfig(), save_dir=args.save_audio)
            if args.scenarios:
                from ..bench.scenarios import SCENARIOS, default_sounds, run_scenarios

                names = SCENARIOS if args.scenarios == "all" else args.scenarios.split(",")
                scen = await run_scenarios(models, clips, names, default_sounds(), args.trials)
                result["summary"].setdefault("scenarios", {}).update(scen)
    finally:
        models.close()
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0
