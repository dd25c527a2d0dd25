"""End-to-end fixtures: the real bundled models, Debian's Chromium driven by Playwright, fake microphones."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voice_agent.audio.pcm import SAMPLE_RATE
from voice_agent.audio.wav import read_wav, write_wav
from voice_agent.bench.runner import Clip, true_speech_end

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def mic_recording(path: Path, *parts: tuple[float, Clip | None]) -> list[tuple[float, float]]:
    """Write a fake-microphone WAV of (seconds of silence before, clip) parts; return each clip's
    (speech start, true speech end) in seconds from the file's start."""
    pcm: list[np.ndarray] = []
    spans = []
    at = 0
    for gap_s, clip in parts:
        pcm.append(np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.int16))
        at += len(pcm[-1])
        if clip is not None:
            audio = read_wav(clip.path)
            spans.append((at / SAMPLE_RATE, (at + true_speech_end(audio)) / SAMPLE_RATE))
            pcm.append(audio)
            at += len(audio)
    write_wav(path, np.concatenate(pcm), SAMPLE_RATE)
    return spans


@asynccontextmanager
async def chromium_page(fake_mic: Path, profile: Path, allow_mic: bool = True) -> AsyncIterator[Any]:
    """A page in Debian's Chromium whose microphone plays `fake_mic` once (never downloads a browser).

    With `allow_mic=False` nobody answers the permission prompt, so the page is refused the microphone.
    """
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.async_api")
    args = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={fake_mic.resolve()}%noloop"]
    if not allow_mic:
        args.remove("--use-fake-ui-for-media-stream")
    async with playwright_api.async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=False,
            args=args,
            viewport={"width": 900, "height": 760},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            yield page
        finally:
            await context.close()
