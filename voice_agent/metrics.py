"""Prometheus metrics for a serving process: sessions, per-stage latency, errors.

The session calls `session_started()`, `session_ended()`, `observe_turn(timeline)`
and `error(code)`; the gateway serves `render()` at GET /metrics. Every metric
lives in this module's own registry, so importing it twice or in tests never
collides with other users of prometheus-client.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .core.metrics import MARKS, TurnTimeline

# Seconds from the VAD's end of speech; a voice reply should land well under 1.5 s.
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
STAGES = tuple(m for m in MARKS if m not in ("speech_end_true", "vad_end"))


class Metrics:
    """One registry's worth of voice-agent metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.active = Gauge("voice_agent_active_sessions", "Sessions open right now", registry=r)
        self.sessions = Counter("voice_agent_sessions", "Sessions started", registry=r)
        self.turns = Counter("voice_agent_turns", "Replies that reached the user", registry=r)
        self.discarded = Counter(
            "voice_agent_discarded_replies", "Speculative replies thrown away (the user went on)", registry=r
        )
        self.errors = Counter("voice_agent_errors", "Errors reported to clients, by code", ["code"], registry=r)
        self.stage = Histogram(
            "voice_agent_stage_latency_seconds",
            "Time from the VAD's end of speech to each stage's first output",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.audio = Counter("voice_agent_reply_audio_seconds", "Seconds of reply audio sent", registry=r)

    def session_started(self) -> None:
        """A session opened."""
        self.sessions.inc()
        self.active.inc()

    def session_ended(self) -> None:
        """A session closed."""
        self.active.dec()

    def error(self, code: str) -> None:
        """An `error` event with this code went to a client."""
        self.errors.labels(code=code or "unknown").inc()

    def observe_turn(self, timeline: TurnTimeline) -> None:
        """Record a finished turn: its stage latencies if it was released, else a discard."""
        if "endpoint" not in timeline.marks:
            self.discarded.inc()
            return
        start = timeline.marks.get("vad_end")
        if start is None:
            return
        for stage in STAGES:
            t = timeline.marks.get(stage)
            if t is not None:
                self.stage.labels(stage=stage).observe(max(0.0, t - start))
        if "first_audio_out" in timeline.marks:
            self.turns.inc()
        self.audio.inc(max(0.0, timeline.audio_seconds))

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for GET /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


DEFAULT = Metrics()


def session_started() -> None:
    """A session opened (process-wide metrics)."""
    DEFAULT.session_started()


def session_ended() -> None:
    """A session closed (process-wide metrics)."""
    DEFAULT.session_ended()


def error(code: str) -> None:
    """Count an error event by code (process-wide metrics)."""
    DEFAULT.error(code)


def observe_turn(timeline: TurnTimeline) -> None:
    """Record a finished turn's latencies (process-wide metrics)."""
    DEFAULT.observe_turn(timeline)


def render() -> tuple[bytes, str]:
    """The process-wide metrics as (body, content type) for GET /metrics."""
    return DEFAULT.render()
