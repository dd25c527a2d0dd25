"""The load benchmark and the CPU priority order, on fake stages."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import FakeLlm, FakeTts, fake_models, quiet, tone
from voice_agent.audio.wav import write_wav
from voice_agent.bench.load import PlayoutSink, parse_counts, rss_mb, run_load, run_load_once
from voice_agent.bench.runner import Clip
from voice_agent.config import SessionConfig
from voice_agent.priority import CpuPriority, GenerationYield, Level


@pytest.fixture
def clip(tmp_path: Path) -> Clip:
    path = tmp_path / "tone.wav"
    write_wav(path, np.concatenate([tone(700), quiet(100)]), 16000)
    return Clip("tone", path, "hello there")


@dataclass
class SlowLaterTts(FakeTts):
    """Synthesis of every clause after a reply's first takes `delay` seconds."""

    delay: float = 0.0

    def synthesize(self, text: str) -> np.ndarray:
        if not text.startswith("Hi"):
            time.sleep(self.delay)
        return super().synthesize(text)


async def test_playout_clock_counts_a_gap_as_underrun() -> None:
    now = [0.0]
    sink = PlayoutSink(lambda: now[0], rate=1000)
    await sink.send_audio(1, np.zeros(100, np.int16))  # plays 0.0 .. 0.1
    now[0] = 0.05
    await sink.send_audio(1, np.zeros(100, np.int16))  # buffered: plays to 0.2
    now[0] = 0.21
    await sink.send_audio(1, np.zeros(100, np.int16))  # 10 ms late: within the jitter grace
    now[0] = 0.5
    await sink.send_audio(1, np.zeros(100, np.int16))  # ran dry at 0.31
    now[0] = 5.0
    await sink.send_audio(2, np.zeros(100, np.int16))  # a new turn starts its own clock
    assert len(sink.underruns) == 1
    turn, gap = sink.underruns[0]
    assert turn == 1 and abs(gap - 0.19) < 1e-9


async def test_concurrent_clients_all_get_replies_without_underruns(clip: Clip) -> None:
    models = fake_models(llm=FakeLlm(per_token=0.002))
    result = await run_load_once(models, [clip], 3, SessionConfig(partial_every_ms=0), stagger_s=0.1, per_client=1)
    assert result["sessions"] == 3 and result["turns"] == 3 and result["no_reply"] == 0
    assert result["voice_to_voice_ms"]["n"] == 3
    assert result["underruns"] == 0
    assert all(r["reply"].startswith("Hi!") for r in result["records"])
    assert {r["client"] for r in result["records"]} == {0, 1, 2}
    assert result["rss_peak_mb"] >= result["rss_base_mb"] > 0


async def test_slow_later_clauses_show_up_as_underruns(clip: Clip) -> None:
    models = fake_models(tts=SlowLaterTts(delay=0.5), llm=FakeLlm(per_token=0.001))
    result = await run_load_once(models, [clip], 1, SessionConfig(partial_every_ms=0), per_client=1)
    assert result["underruns"] >= 1 and result["underrun_ms"] > 100


async def test_run_load_summary_shape(clip: Clip) -> None:
    models = fake_models(llm=FakeLlm(per_token=0.001))
    out = await run_load(models, [clip], [1, 2], SessionConfig(partial_every_ms=0), stagger_s=0.05, per_client=1)
    load = out["summary"]["load"]
    assert load["sessions"] == 2
    assert set(load["voice_to_voice_ms"]) >= {"p50", "p95"}
    assert load["underruns"] == 0 and "rss_mb_per_session" in load
    assert [r["sessions"] for r in load["by_sessions"]] == [1, 2]
    assert len(out["turns"]["2"]) == 2


def test_parse_counts() -> None:
    assert parse_counts("4") == [4]
    assert parse_counts("6,1,2,4,2") == [1, 2, 4, 6]
    for bad in ("", "0", "two", "1,-3"):
        with pytest.raises(ValueError):
            parse_counts(bad)
    assert rss_mb() > 0


def _start(fn: object) -> threading.Thread:
    t = threading.Thread(target=fn)  # type: ignore[arg-type]
    t.start()
    return t


def test_later_audio_and_partials_wait_for_first_audio_in_order() -> None:
    prio = CpuPriority()
    order: list[str] = []
    first_running = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with prio.urgent():
            first_running.set()
            release_first.wait(2)
            order.append("first")

    def run(level: Level, name: str, hold: float = 0.0) -> None:
        with prio.section(level):
            order.append(name)
            time.sleep(hold)

    threads = [_start(first)]
    first_running.wait(2)
    threads.append(_start(lambda: run(Level.PARTIAL, "partial")))
    time.sleep(0.05)
    threads.append(_start(lambda: run(Level.LATER_AUDIO, "later", 0.1)))
    time.sleep(0.05)
    assert order == [] and prio.busy and prio.pending(Level.PARTIAL) == 1
    release_first.set()
    for t in threads:
        t.join(3)
    assert order == ["first", "later", "partial"]
    assert prio.waited_s[Level.PARTIAL] > prio.waited_s[Level.LATER_AUDIO] > 0


def test_generation_checkpoint_yields_to_first_audio_only() -> None:
    prio = CpuPriority()
    with prio.section(Level.LATER_AUDIO), prio.section(Level.PARTIAL):
        t = time.monotonic()
        prio.checkpoint()  # later clauses and partials do not hold up generation
        assert time.monotonic() - t < 0.05
    prio.max_wait_s = 0.2
    with prio.urgent():
        t = time.monotonic()
        prio.checkpoint()  # bounded: a stuck urgent call never starves generation
        assert 0.15 < time.monotonic() - t < 1.0
    assert not prio.busy


def test_later_generation_yields_to_another_replys_first_clause_while_its_audio_lasts() -> None:
    prio = CpuPriority()
    waiting_for_context = GenerationYield(prio)  # no token yet: must not hold anyone up
    assert prio.idle
    later = GenerationYield(prio, max_wait_s=0.2)
    later.clause_out = True
    later.slack_until = time.monotonic() + 5.0
    t = time.monotonic()
    later()
    assert time.monotonic() - t < 0.05

    first = GenerationYield(prio)
    first()  # its first token: from now on it is first-clause work
    assert prio.pending(Level.GENERATION) == 1 and not prio.idle
    t = time.monotonic()
    later()  # audio in hand: gives way, for at most max_wait_s at a time
    assert 0.15 < time.monotonic() - t < 1.0
    later.slack_until = time.monotonic() - 0.1  # its audio is running out: no more waiting
    t = time.monotonic()
    later()
    assert time.monotonic() - t < 0.05

    first.clause_out = True
    first()  # its first clause is out: it stops counting, once
    first.close()
    waiting_for_context.close()
    assert prio.pending(Level.GENERATION) == 0 and prio.idle


def test_a_generation_runs_alone_only_while_nothing_else_is_active() -> None:
    prio = CpuPriority()
    assert not prio.only(Level.GENERATION)
    first = GenerationYield(prio)
    first()  # its first token registers it as generation
    assert prio.only(Level.GENERATION)
    with prio.section(Level.PARTIAL):  # a partial transcript wants a core: no spare one
        assert not prio.only(Level.GENERATION)
    second = GenerationYield(prio)
    second()
    assert not prio.only(Level.GENERATION)  # two replies generating share the cores
    second.close()
    assert prio.only(Level.GENERATION)
    first.close()
    assert not prio.only(Level.GENERATION)
