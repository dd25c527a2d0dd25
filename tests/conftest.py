"""Fixtures shared by every test folder: the real bundled models (loaded once) and the test clips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_agent.bench.runner import Clip, read_manifest
from voice_agent.models import Models, load_models

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def models() -> Iterator[Models]:
    """The bundled models, loaded once per test run and shared by all tests that need them."""
    m = load_models()
    yield m
    m.close()


@pytest.fixture(scope="session")
def clips() -> dict[str, Clip]:
    """The test clips by name."""
    return {c.name: c for c in read_manifest(DATA / "MANIFEST.tsv")}
