"""Run the benchmark over a manifest and summarise: percentiles, WER, stage medians."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..config import SessionConfig
from ..core.metrics import MARKS
from ..models import Models
from .runner import Clip, run_clip
from .wer import aggregate_wer


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/mean/min/max of a list (None when empty)."""
    if not values:
        return {"p50": None, "p95": None, "mean": None, "min": None, "max": None, "n": 0}
    arr = np.asarray(values, dtype=float)
    return {
        "p50": round(float(np.percentile(arr, 50)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
        "mean": round(float(arr.mean()), 1),
        "min": round(float(arr.min()), 1),
        "max": round(float(arr.max()), 1),
        "n": len(values),
    }


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency percentiles (premature replies left out), WER and per-stage medians."""
    timed = [r for r in records if r["voice_to_voice_ms"] is not None and not r["premature"]]
    stages: dict[str, float] = {}
    for mark in MARKS[1:]:
        vals = [r["breakdown_ms"][mark] for r in timed if mark in r["breakdown_ms"]]
        if vals:
            stages[mark] = round(statistics.median(vals), 1)
    scored = [
        (r["reference"], r["transcript"]) for r in records if r["reference"] and not r["reference"].startswith("[")
    ]
    return {
        "turns": len(records),
        "voice_to_voice_ms": percentiles([r["voice_to_voice_ms"] for r in timed]),
        "premature_replies": sum(1 for r in records if r["premature"]),
        "premature": [r["clip"] for r in records if r["premature"]],
        "no_reply": [r["clip"] for r in records if r["voice_to_voice_ms"] is None],
        "wer": round(aggregate_wer(scored), 4),
        "stage_medians_ms_from_speech_end": stages,
        "discarded_speculations": sum(r["discarded_speculations"] for r in records),
        "scenarios": {
            "turns": {"voice_to_voice_ms": percentiles([r["voice_to_voice_ms"] for r in timed])},
            "speculative": _speculative(records),
        },
    }


def _speculative(records: list[dict[str, Any]]) -> dict[str, Any]:
    """How much speculative work was thrown away because the user went on."""
    discarded = sum(r["discarded_speculations"] for r in records)
    prepared = discarded + sum(len(r["turns"]) for r in records)
    return {
        "prepared": prepared,
        "discarded": discarded,
        "discarded_fraction": round(discarded / prepared, 3) if prepared else None,
    }


async def run_bench(
    models: Models,
    clips: list[Clip],
    modes: list[str],
    base_config: SessionConfig | None = None,
    save_dir: Path | None = None,
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Run every clip in every mode; return the JSON-ready result."""
    from dataclasses import replace

    result: dict[str, Any] = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "modes": {}}
    for mode in modes:
        config = replace(base_config or SessionConfig(), mode=mode)
        records = []
        for clip in clips:
            save_to = save_dir / mode / f"{clip.name}.reply.wav" if save_dir else None
            rec = await run_clip(models, clip, config, save_to=save_to)
            records.append(rec)
            _print_row(out, mode, rec)
        result["modes"][mode] = {"summary": summarise(records), "turns": records}
    primary = "streaming" if "streaming" in result["modes"] else modes[0]
    summary = dict(result["modes"][primary]["summary"])
    if "sequential" in result["modes"]:
        seq = result["modes"]["sequential"]["summary"]["voice_to_voice_ms"]
        summary["sequential_voice_to_voice_ms"] = seq
        p50 = summary["voice_to_voice_ms"]["p50"]
        if primary != "sequential" and p50 and seq["p50"]:
            summary["sequential_over_streaming_p50"] = round(seq["p50"] / p50, 2)
    result["summary"] = summary
    result["turns"] = result["modes"][primary]["turns"]
    _print_summary(out, result)
    return result


def _print_row(out: TextIO, mode: str, rec: dict[str, Any]) -> None:
    v = rec["voice_to_voice_ms"]
    shown = "  none" if v is None else f"{v:6.0f}"
    flag = " PREMATURE" if rec["premature"] else ""
    out.write(
        f"{mode:10s} {rec['clip'][:44]:44s} {shown} ms{flag} | {rec['transcript'][:50]!r} -> {rec['reply'][:50]!r}\n"
    )
    out.flush()


def _print_summary(out: TextIO, result: dict[str, Any]) -> None:
    out.write("\n")
    for mode, data in result["modes"].items():
        s = data["summary"]
        v = s["voice_to_voice_ms"]
        out.write(
            f"{mode}: voice-to-voice p50 {v['p50']} ms, p95 {v['p95']} ms over {v['n']} turns; "
            f"premature {s['premature_replies']}; WER {s['wer']}\n"
        )
        stages = ", ".join(f"{k} {val:.0f}" for k, val in s["stage_medians_ms_from_speech_end"].items())
        out.write(f"  stage medians from true speech end (ms): {stages}\n")
    if "sequential_over_streaming_p50" in result["summary"]:
        out.write(f"sequential p50 / streaming p50 = {result['summary']['sequential_over_streaming_p50']}\n")
    out.flush()


def write_json(result: dict[str, Any], path: Path) -> None:
    """Write the result as indented JSON."""
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
