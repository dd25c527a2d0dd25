"""Prometheus metrics: what the session reports shows up in the exposition text."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from voice_agent import metrics
from voice_agent.core.metrics import TurnTimeline
from voice_agent.metrics import Metrics


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, ctype = m.render()
    assert ctype.startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def turn(n: int, **marks: float) -> TurnTimeline:
    tl = TurnTimeline(n)
    for name, t in marks.items():
        tl.mark(name, t)
    return tl


def test_sessions_gauge_and_counter() -> None:
    m = Metrics()
    m.session_started()
    m.session_started()
    m.session_ended()
    s = samples(m)
    assert s[("voice_agent_active_sessions", ())] == 1
    assert s[("voice_agent_sessions_total", ())] == 2


def test_turn_latencies_go_into_stage_histograms() -> None:
    m = Metrics()
    tl = turn(1, vad_end=10.0, endpoint=10.3, asr_final=10.1, llm_first_token=10.35, first_audio_out=10.7)
    tl.audio_seconds = 2.5
    m.observe_turn(tl)
    s = samples(m)
    count = s[("voice_agent_stage_latency_seconds_count", (("stage", "first_audio_out"),))]
    total = s[("voice_agent_stage_latency_seconds_sum", (("stage", "first_audio_out"),))]
    assert count == 1 and abs(total - 0.7) < 1e-9
    # 0.7 s falls in the 0.8 s bucket, not in the 0.6 s one.
    assert s[("voice_agent_stage_latency_seconds_bucket", (("le", "0.8"), ("stage", "first_audio_out")))] == 1
    assert s[("voice_agent_stage_latency_seconds_bucket", (("le", "0.6"), ("stage", "first_audio_out")))] == 0
    assert abs(s[("voice_agent_stage_latency_seconds_sum", (("stage", "endpoint"),))] - 0.3) < 1e-9
    assert ("voice_agent_stage_latency_seconds_count", (("stage", "first_tts_audio"),)) not in s
    assert s[("voice_agent_turns_total", ())] == 1
    assert s[("voice_agent_reply_audio_seconds_total", ())] == 2.5


def test_discarded_speculation_is_counted_not_timed() -> None:
    m = Metrics()
    m.observe_turn(turn(2, vad_end=1.0, asr_final=1.2))
    s = samples(m)
    assert s[("voice_agent_discarded_replies_total", ())] == 1
    assert ("voice_agent_stage_latency_seconds_count", (("stage", "asr_final"),)) not in s


def test_errors_by_code() -> None:
    m = Metrics()
    m.error("stage_failed")
    m.error("stage_failed")
    m.error("bad_input")
    s = samples(m)
    assert s[("voice_agent_errors_total", (("code", "stage_failed"),))] == 2
    assert s[("voice_agent_errors_total", (("code", "bad_input"),))] == 1


def test_module_functions_use_one_process_wide_registry() -> None:
    before = samples(metrics.DEFAULT).get(("voice_agent_errors_total", (("code", "llm_down"),)), 0.0)
    metrics.session_started()
    metrics.error("llm_down")
    metrics.observe_turn(turn(3, vad_end=0.0, endpoint=0.2, first_audio_out=0.5))
    metrics.session_ended()
    body, ctype = metrics.render()
    assert b"voice_agent_active_sessions" in body and "version=" in ctype
    assert samples(metrics.DEFAULT)[("voice_agent_errors_total", (("code", "llm_down"),))] == before + 1
