"""`voice-agent phone-sim`: call the server like Twilio would, say a WAV, record what was heard."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the `phone-sim` parser."""
    p = sub.add_parser("phone-sim", help="simulated Twilio caller: say a WAV over a media stream, record the reply")
    p.add_argument("--url", default="ws://127.0.0.1:8000/phone/twilio/stream", help="the server's stream URL")
    p.add_argument("--wav", type=Path, required=True, help="what the caller says (any WAV; sent as 8 kHz µ-law)")
    p.add_argument("--out", type=Path, help="write what the caller heard here (8 kHz WAV)")
    p.add_argument("--param", action="append", default=[], help="a customParameter NAME=VALUE (repeatable)")
    p.add_argument("--auth-token", help="sign the handshake with this Twilio auth token")
    p.add_argument("--max-s", type=float, default=30.0, help="hang up after this long at most")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Make the call and print a JSON summary."""
    return asyncio.run(_call(args))


async def _call(args: argparse.Namespace) -> int:
    from ..audio.wav import AudioFormatError, read_wav, write_wav
    from ..transports.phone.sim import RATE, TwilioCaller

    try:
        pcm = read_wav(args.wav, RATE)
    except (OSError, AudioFormatError) as exc:
        print(f"voice-agent phone-sim: {exc}", file=sys.stderr)
        return 2
    params = dict(p.partition("=")[::2] for p in args.param)
    try:
        async with TwilioCaller(args.url, params=params, auth_token=args.auth_token) as caller:
            await caller.run_until(lambda: False, 0.5)
            said = caller.say(pcm)

            def done() -> bool:
                replied = said.end_t is not None and any(t > said.end_t for t in caller.media_times)
                return replied and caller.quiet_for(1.5)

            await caller.run_until(done, args.max_s)
    except OSError as exc:
        print(f"voice-agent phone-sim: cannot connect to {args.url}: {exc}", file=sys.stderr)
        return 2
    first = next((t for t in caller.media_times if said.end_t is not None and t > said.end_t), None)
    if args.out:
        write_wav(args.out, caller.heard_audio(), RATE)
    summary = {
        "voice_to_voice_ms": None if first is None or said.end_t is None else round((first - said.end_t) * 1000, 1),
        "heard_s": round(sum(1 for f in caller.heard if f.any()) * 0.02, 2),
        "marks_played": [n for _, n in caller.marks_played],
        "marks_cleared": [n for _, n in caller.marks_cleared],
        "clears": len(caller.clears),
        "violations": caller.violations,
    }
    print(json.dumps(summary, indent=2))
    return 0 if first is not None and not caller.violations else 1
