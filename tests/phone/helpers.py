"""Shared by the phone tests: a bridge observer that records, and a wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Log:
    """Records what the bridge reports: (what, data) pairs."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, what: str, data: dict[str, Any]) -> None:
        self.items.append((what, data))

    def of(self, what: str) -> list[dict[str, Any]]:
        return [d for w, d in self.items if w == what]


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `pred()` holds (TimeoutError after `timeout` seconds)."""
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)
