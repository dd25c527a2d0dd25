"""`voice-agent bench --transport twilio`: the benchmark through the phone bridge.

Each clip is one call from the simulated Twilio caller to an in-process
Gateway: 0.5 s of silence, the clip as 8 kHz µ-law in real time, then
silence until the agent's reply has played out. Voice-to-voice latency is
measured at the caller: the first agent audio arriving minus the moment the
frame holding the clip's true end of speech was sent.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import numpy as np

from ..audio.wav import read_wav
from ..config import SessionConfig
from ..models import Models
from ..transports.gateway import Gateway, GatewayConfig
from ..transports.phone import mount_phone_routes
from ..transports.phone.sim import RATE, TwilioCaller
from .report import percentiles
from .runner import Clip
from .wer import aggregate_wer

LEAD_IN_S = 0.5
MAX_WAIT_S = 20.0


class _CallLog:
    """The bridge observer; `items` is replaced for each call."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, what: str, data: dict[str, Any]) -> None:
        self.items.append((what, data))

    def session(self, kind: str) -> list[dict[str, Any]]:
        return [d for w, d in self.items if w == "session" and d.get("type") == kind]


async def run_phone_call(url: str, clip: Clip, log: _CallLog) -> dict[str, Any]:
    """Play one clip as a phone call; return its turn record."""
    pcm = read_wav(clip.path, RATE)
    async with TwilioCaller(url) as caller:
        await caller.run_until(lambda: False, LEAD_IN_S)
        said = caller.say(pcm)
        await caller.run_until(lambda: not caller.speaking(), len(pcm) / RATE + 5)

        def replied() -> bool:
            heard = said.end_t is not None and any(t > said.end_t for t in caller.media_times)
            return heard and caller.quiet_for(1.0)

        await caller.run_until(replied, MAX_WAIT_S)
    first = next((t for t in caller.media_times if said.end_t is not None and t > said.end_t), None)
    v2v = None if first is None or said.end_t is None else round((first - said.end_t) * 1000.0, 1)
    latency = log.session("latency")
    return {
        "clip": clip.name,
        "reference": clip.transcript,
        "transcript": " ".join(e["text"] for e in log.session("transcript") if e.get("final")),
        "reply": " ".join(e["text"] for e in log.session("agent_text")),
        "voice_to_voice_ms": v2v,
        "premature": v2v is not None and v2v < 0,
        "breakdown_ms": {k: v for k, v in latency[0].items() if k not in ("type", "turn")} if latency else {},
        "heard_s": round(float(np.count_nonzero([np.any(f) for f in caller.heard])) * 0.02, 2),
        "marks_played": len(caller.marks_played),
        "violations": caller.violations,
    }


async def run_phone_bench(
    models: Models,
    clips: list[Clip],
    config: SessionConfig | None = None,
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Call once per clip through the Twilio bridge; return the benchmark's JSON fields."""
    log = _CallLog()
    records = []
    async with Gateway(models, GatewayConfig(port=0, session=config or SessionConfig())) as gateway:
        mount_phone_routes(gateway, observer=log)
        url = f"ws://127.0.0.1:{gateway.port}/phone/twilio/stream"
        for clip in clips:
            log.items = []
            rec = await run_phone_call(url, clip, log)
            records.append(rec)
            v = rec["voice_to_voice_ms"]
            out.write(f"twilio {clip.name[:44]:44s} {'  none' if v is None else f'{v:6.0f}'} ms | ")
            out.write(f"{rec['transcript'][:50]!r} -> {rec['reply'][:50]!r}\n")
            out.flush()
    timed = [r["voice_to_voice_ms"] for r in records if r["voice_to_voice_ms"] is not None and not r["premature"]]
    scored = [(r["reference"], r["transcript"]) for r in records if r["reference"]]
    summary: dict[str, Any] = {
        "transport": "twilio",
        "turns": len(records),
        "voice_to_voice_ms": percentiles(timed),
        "wer": round(aggregate_wer(scored), 4),
        "premature_replies": sum(1 for r in records if r["premature"]),
        "no_reply": [r["clip"] for r in records if r["voice_to_voice_ms"] is None],
    }
    out.write(f"\nphone voice-to-voice p50 {summary['voice_to_voice_ms']['p50']} ms, ")
    out.write(f"p95 {summary['voice_to_voice_ms']['p95']} ms, WER {summary['wer']}\n")
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "summary": summary, "turns": records}
