"""The phone benchmark on the telephone clips: WER through 8 kHz µ-law, latency at the simulated caller."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_agent.bench.phone import run_phone_bench
from voice_agent.bench.runner import read_manifest
from voice_agent.models import Models, load_models

pytestmark = [pytest.mark.phone, pytest.mark.models]

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def models() -> Iterator[Models]:
    m = load_models()
    yield m
    m.close()


async def test_tel8k_wer_and_latency(models: Models, tmp_path: Path) -> None:
    clips = read_manifest(DATA / "MANIFEST.tsv", match="tel8k_*")
    assert len(clips) >= 3
    out = io.StringIO()
    result = await run_phone_bench(models, clips, out=out)
    summary = result["summary"]
    (tmp_path / "phone_bench.json").write_text(json.dumps(result, indent=2))
    print(out.getvalue())
    assert summary["wer"] <= 0.25, [(t["reference"], t["transcript"]) for t in result["turns"]]
    assert not summary["no_reply"] and summary["voice_to_voice_ms"]["n"] == len(clips)
    assert summary["voice_to_voice_ms"]["p50"] is not None and summary["voice_to_voice_ms"]["p95"] is not None
    assert all(not t["violations"] and t["heard_s"] > 0 for t in result["turns"])
