"""A reply's audio on its way out: paced sending, pause with rewind, resume, playout clock.

The player sends a turn's audio in small pieces, never more than `max_lead_s`
ahead of real-time playout, so a barge-in has little to take back. Pausing
rewinds the cursor to what the listener has heard (the transport's report,
or our own playout clock when it reports nothing) so resuming replays the
cut-off syllable instead of skipping it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np

from .audio.pcm import voiced_span
from .core.heard import Track


class Player:
    """Owns one turn's audio buffer, cursor and playout clock."""

    def __init__(
        self,
        rate: int,
        clock: Callable[[], float],
        piece_ms: int = 100,
        max_lead_s: float = 0.4,
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.piece = rate * piece_ms // 1000
        self.max_lead_s = max_lead_s
        self.track = Track()
        self._audio: list[np.ndarray] = []
        self._buffer = np.zeros(0, dtype=np.int16)
        self.cursor = 0  # next sample to send
        self.done_adding = False
        self.paused = False
        self._wake = asyncio.Event()
        self._pieces: list[tuple[float, int, int]] = []  # (play start, first sample, end sample)
        self.playout_end = 0.0
        self.reported: float | None = None  # samples heard, per the transport

    # ---- feeding -----------------------------------------------------------

    def add(self, text: str, pcm: np.ndarray, words: list[tuple[int, int]] | None = None) -> None:
        """Append a clause's audio (and each word's span in it, where known)."""
        self.track.add(text, len(pcm), voiced_span(pcm, self.rate), words)
        self._audio.append(pcm)
        self._wake.set()

    def finish(self) -> None:
        """No more clauses will come."""
        self.done_adding = True
        self._wake.set()

    # ---- control -----------------------------------------------------------

    def heard_samples(self) -> int:
        """Samples the listener has heard: the transport's word if it reports, else our clock."""
        if self.reported is not None:
            return int(min(self.reported, self.cursor))
        now = self.clock()
        heard = 0
        for start, s0, s1 in self._pieces:
            if now >= start + (s1 - s0) / self.rate:
                heard = max(heard, s1)
            elif now > start:
                heard = max(heard, s0 + int((now - start) * self.rate))
        return heard

    def ahead_s(self) -> float:
        """Seconds of audio queued or in flight that the listener has not heard yet."""
        return max(0, self.track.length - self.heard_samples()) / self.rate

    def pause(self) -> int:
        """Stop sending and rewind to what was heard; return that sample position."""
        heard = self.heard_samples()
        self.paused = True
        self.cursor = heard
        self._pieces = [(s, a, min(b, heard)) for s, a, b in self._pieces if a < heard]
        self.playout_end = self.clock()
        self._wake.set()
        return heard

    def resume(self) -> None:
        """Send on from the paused position."""
        self.paused = False
        self._wake.set()

    def report(self, heard_s: float) -> None:
        """The transport says the listener has heard `heard_s` seconds."""
        self.reported = max(self.reported or 0.0, heard_s * self.rate)

    # ---- sending -----------------------------------------------------------

    def _samples(self) -> np.ndarray:
        if self._audio:
            self._buffer = np.concatenate([self._buffer, *self._audio])
            self._audio.clear()
        return self._buffer

    async def play(
        self,
        send: Callable[[np.ndarray, int, int, float], Awaitable[None]],
        is_cancelled: Callable[[], bool],
    ) -> None:
        """Send everything (`send(piece, start, end, play_at)`) and return once it has played out.

        A pause stops sending and rewinds; after resume() sending goes on from
        there. Returns early only when `is_cancelled()`.
        """
        while not is_cancelled():
            audio = self._samples()
            if self.paused or self.cursor >= len(audio):
                if not self.paused and self.done_adding:
                    remaining = self.playout_end - self.clock()
                    if remaining <= 0:
                        return  # all sent and played
                    self._wake.clear()
                    try:  # wake early if paused meanwhile
                        await asyncio.wait_for(self._wake.wait(), remaining)
                    except TimeoutError:
                        pass
                    continue
                self._wake.clear()
                await self._wake.wait()
                continue
            lead = self.playout_end - self.clock()
            if lead > self.max_lead_s:
                await asyncio.sleep(lead - self.max_lead_s)
                continue  # re-check pause/cancel after the wait
            start = self.cursor
            end = min(len(audio), start + self.piece)
            play_at = max(self.clock(), self.playout_end)
            self.cursor = end
            self._pieces.append((play_at, start, end))
            self.playout_end = play_at + (end - start) / self.rate
            await send(audio[start:end], start, end, play_at)
