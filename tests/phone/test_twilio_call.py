"""A simulated Twilio call against a real Gateway, the real bundled models and real recorded speech."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voice_agent.audio.wav import read_wav
from voice_agent.models import Models, load_models
from voice_agent.transports.gateway import Gateway, GatewayConfig
from voice_agent.transports.phone import mount_phone_routes
from voice_agent.transports.phone.sim import TwilioCaller

pytestmark = [pytest.mark.phone, pytest.mark.models]

CLIPS = Path(__file__).resolve().parent.parent / "data" / "clips"


class Recorder:
    """The bridge's observer: every session event, message sent to the carrier and heard report."""

    def __init__(self) -> None:
        self.log: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, what: str, data: dict[str, Any]) -> None:
        self.log.append((what, data))

    def recent(self) -> list[dict[str, Any]]:
        return [d for w, d in self.log if w == "session" and d.get("type") not in ("transcript",)][-12:]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [d for w, d in self.log if w == "session" and d.get("type") == kind]


@pytest.fixture(scope="module")
def models() -> Iterator[Models]:
    m = load_models()
    yield m
    m.close()


@pytest.fixture
async def call(models: Models) -> AsyncIterator[tuple[Gateway, Recorder]]:
    rec = Recorder()
    async with Gateway(models, GatewayConfig(port=0)) as gw:
        mount_phone_routes(gw, observer=rec)
        yield gw, rec


async def ended(rec: Recorder, timeout: float = 5.0) -> None:
    """Wait for the bridge to finish the call (session closed)."""
    async with asyncio.timeout(timeout):
        while not any(w == "end" for w, _ in rec.log):
            await asyncio.sleep(0.02)


def clip(name: str) -> np.ndarray:
    return read_wav(CLIPS / name, 8000)


def agent_audio_s(caller: TwilioCaller, since_tick: int) -> float:
    return sum(1 for f in caller.heard[since_tick:] if np.any(f)) * 0.02


async def test_call_is_answered_and_barge_in_is_crisp(call: tuple[Gateway, Recorder]) -> None:
    gw, rec = call
    url = f"ws://127.0.0.1:{gw.port}/phone/twilio/stream"
    utterances = [
        "clean_cmu_goforward.wav",
        "clean_librivox_sense_and_sensibility_0880.wav",
        "clean_speechrecognition_one_two_three.wav",
    ]
    delays: list[float] = []
    async with TwilioCaller(url, params={"from": "+15550100"}) as caller:
        await caller.run_until(lambda: False, 0.3)
        said = caller.say(clip(utterances[0]))
        for i in range(1, 8):
            # Barge in once the reply has played for 0.4 s while more of it is still queued.
            start = caller.tick

            def mid_reply(start: int = start) -> bool:
                return agent_audio_s(caller, start) >= 0.3 and caller.queued_s() >= 0.15

            if not await caller.run_until(mid_reply, 25.0):
                assert agent_audio_s(caller, start) > 0, "the call was not answered"
                said = caller.say(clip(utterances[i % 3]))  # the reply was too short to interrupt
                continue
            assert said.end_t is not None
            n_clears = len(caller.clears)
            said = caller.say(clip(utterances[i % 3]))

            def cleared_or_over(n: int = n_clears) -> bool:
                return len(caller.clears) > n or caller.quiet_for(0.3)

            await caller.run_until(cleared_or_over, 6.0)
            if len(caller.clears) == n_clears:
                continue  # the reply ended before the caller's speech could interrupt it: no trial
            assert said.onset_t is not None
            delays.append(caller.clears[n_clears] - said.onset_t)
            if len(delays) == 3:
                break
        await caller.run_until(lambda: len(rec.events("interrupted")) >= len(delays) and not caller.speaking(), 15.0)
        # The reply to the last utterance plays out, so some marks come back as played
        # (a reply after a doubtful "1, 2, 3." can start over 1 s after the caller stops).
        n_played = len(caller.marks_played)
        await caller.run_until(lambda: len(caller.marks_played) > n_played and caller.quiet_for(1.0), 15.0)
    assert not caller.violations
    await ended(rec)

    # Answered: the caller's words were understood and the agent spoke.
    finals = [e["text"].lower() for e in rec.events("transcript") if e.get("final")]
    assert any("forward" in t for t in finals), finals
    assert rec.events("agent_text")

    # Barge-in: the clear left quickly after the caller's speech onset.
    print(f"\nphone barge-in: clear {[round(d * 1000) for d in delays]} ms after the caller's speech onset")
    assert statistics.median(delays) <= 0.150, delays

    interrupted = rec.events("interrupted")
    assert len(delays) >= 2 and len(interrupted) >= 2, (delays, interrupted)
    played_names = {name for _, name in caller.marks_played}
    cleared_names = {name for _, name in caller.marks_cleared}
    heard = [d for w, d in rec.log if w == "heard"]
    # Heard positions come only from marks the caller returned as played, never from cleared ones.
    assert heard and all(h["name"] in played_names and h["name"] not in cleared_names for h in heard)
    for event in interrupted:
        turn = event["turn"]
        sent = [(i, d) for i, (w, d) in enumerate(rec.log) if w == "sent" and d["turn"] == turn]
        clears = [i for i, d in sent if d["kind"] == "clear"]
        assert clears, f"turn {turn} was interrupted without a clear"
        assert not [d for i, d in sent if d["kind"] == "media" and i > clears[-1]], "media after the final clear"
        # The heard text is the text of the clauses whose marks came back as played.
        clauses = [e["text"] for e in rec.events("agent_text") if e["turn"] == turn]
        marks = [h for h in heard if h["turn"] == turn]
        if marks:
            n = len({h["name"].split("#")[0] for h in marks})
            assert event["heard"].split()[: len(" ".join(clauses[:n]).split())] == " ".join(clauses[:n]).split()
    assert [w for w, _ in rec.log].count("end") == 1
