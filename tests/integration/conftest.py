"""Real bundled models, loaded once for all integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_agent.bench.runner import Clip, read_manifest
from voice_agent.models import Models, load_models

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="session")
def models() -> Iterator[Models]:
    m = load_models()
    yield m
    m.close()


@pytest.fixture(scope="session")
def clips() -> dict[str, Clip]:
    return {c.name: c for c in read_manifest(DATA / "MANIFEST.tsv")}
