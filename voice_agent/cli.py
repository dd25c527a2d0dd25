"""Command line: `voice-agent bench | respond | doctor`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from .config import ModelConfig, SessionConfig
from .stages.base import StageError


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--asr-model", type=Path, help="CTranslate2 Whisper directory (default: bundled tiny.en)")
    p.add_argument("--llm-model", type=Path, help="GGUF file (default: bundled SmolLM2-135M-Instruct)")
    p.add_argument("--voice", type=Path, help="Piper voice .onnx (default: bundled en_US-joe-medium)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per model (default 2)")


def _model_config(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(asr_model=args.asr_model, llm_model=args.llm_model, voice=args.voice, threads=args.threads)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="voice-agent", description="Real-time full-duplex voice agent.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="latency benchmark on recorded speech fed in real time")
    bench.add_argument("--manifest", type=Path, required=True, help="TSV with file and transcript columns")
    bench.add_argument("--clips-dir", type=Path, help="where the manifest's files are (default: beside it)")
    bench.add_argument("--match", help="only clips whose name matches this glob, e.g. 'clean_*'")
    bench.add_argument("--mode", choices=["streaming", "sequential", "both"], default="streaming")
    bench.add_argument("--json", type=Path, help="write the full result here")
    bench.add_argument("--save-audio", type=Path, help="write each reply as WAV into this folder")
    bench.add_argument("--limit", type=int, help="only the first N clips")
    _model_args(bench)

    respond = sub.add_parser("respond", help="speak a WAV file to the agent and save its spoken reply")
    respond.add_argument("wav", type=Path, help="your side of the conversation (any WAV)")
    respond.add_argument("--out", type=Path, default=Path("reply.wav"), help="where to write the reply")
    _model_args(respond)

    doctor = sub.add_parser("doctor", help="check that every model and helper program is in place")
    _model_args(doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `voice-agent` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "doctor":
            return _doctor(args)
        if args.command == "bench":
            return asyncio.run(_bench(args))
        if args.command == "respond":
            return asyncio.run(_respond(args))
    except StageError as exc:
        print(f"voice-agent: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


def _doctor(args: argparse.Namespace) -> int:
    from .models import load_models

    models = load_models(_model_config(args))
    try:
        took = ", ".join(f"{k} {v:.2f} s" for k, v in models.load_seconds.items())
        print(f"ok: ASR, LLM and TTS loaded and warmed up ({took})")
    finally:
        models.close()
    return 0


async def _bench(args: argparse.Namespace) -> int:
    from .bench.report import run_bench, write_json
    from .bench.runner import read_manifest
    from .models import load_models

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
    models = load_models(_model_config(args))
    try:
        result = await run_bench(models, clips, modes, SessionConfig(), save_dir=args.save_audio)
    finally:
        models.close()
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0


async def _respond(args: argparse.Namespace) -> int:
    from .bench.runner import Clip, run_clip
    from .models import load_models

    models = load_models(_model_config(args))
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


if __name__ == "__main__":
    sys.exit(main())
