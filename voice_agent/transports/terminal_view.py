"""What `voice-agent talk` shows: a live rich view, or plain lines for logs and pipes."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

STATE_LABELS = {
    "listening": "listening",
    "user_speaking": "hearing you",
    "endpointing": "hearing you",
    "thinking": "thinking",
    "speaking": "speaking",
}
STATE_STYLES = {"listening": "green", "hearing you": "bold cyan", "thinking": "yellow", "speaking": "bold magenta"}


@dataclass
class TurnLatency:
    """One turn's latency: heard (user's speech end to reply at the speaker) and the session's breakdown."""

    turn: int
    heard_ms: float | None
    breakdown_ms: dict[str, float] = field(default_factory=dict)


def latency_summary(turns: list[TurnLatency]) -> str:
    """'3 turns; heard latency median 910 ms (min 850, max 1200)' or a note that there were none."""
    heard = [t.heard_ms for t in turns if t.heard_ms is not None]
    if not turns:
        return "no turns"
    pipeline = [t.breakdown_ms["first_audio_out"] for t in turns if "first_audio_out" in t.breakdown_ms]
    parts = [f"{len(turns)} turn{'s' if len(turns) != 1 else ''}"]
    if heard:
        parts.append(
            f"heard latency median {statistics.median(heard):.0f} ms (min {min(heard):.0f}, max {max(heard):.0f})"
        )
    if pipeline:
        parts.append(f"first audio out {statistics.median(pipeline):.0f} ms after the VAD end (median)")
    return "; ".join(parts)


def _latency_text(lat: TurnLatency) -> str:
    heard = "?" if lat.heard_ms is None else f"{lat.heard_ms:.0f} ms"
    steps = ", ".join(f"{k} {v:.0f}" for k, v in lat.breakdown_ms.items() if k != "vad_end")
    return f"turn {lat.turn}: {heard} from your last word to the reply's first sound" + (
        f" (ms after VAD end: {steps})" if steps else ""
    )


class View(Protocol):
    """The calls `talk` makes on its display."""

    def start(self, banner: str) -> None:
        """Show the devices and that the agent is ready."""
        ...

    def state(self, state: str) -> None:
        """The session's state changed."""
        ...

    def partial(self, text: str) -> None:
        """A partial transcript of what the user is saying."""
        ...

    def final(self, turn: int | None, text: str) -> None:
        """The final transcript of a user turn."""
        ...

    def agent_heard(self, turn: int, text: str) -> None:
        """A clause of the agent's reply has started playing."""
        ...

    def interrupted(self, turn: int, heard: str) -> None:
        """The user barged in; only `heard` of `turn` was heard, the rest was dropped."""
        ...

    def latency(self, lat: TurnLatency) -> None:
        """A turn's reply reached the speaker."""
        ...

    def note(self, text: str) -> None:
        """An error or notice."""
        ...

    def stop(self, summary: str) -> None:
        """End the display and print the summary."""
        ...


class QuietView:
    """Plain lines, one per event worth logging; flushed at once so pipes see them live."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def start(self, banner: str) -> None:
        """Print the banner and 'ready'."""
        self._print(banner)
        self._print("ready: speak now (Ctrl-C to end)")

    def state(self, state: str) -> None:
        """States are not logged in quiet mode."""

    def partial(self, text: str) -> None:
        """Partials are not logged in quiet mode."""

    def final(self, turn: int | None, text: str) -> None:
        """Log what the user said."""
        self._print(f"you: {text}")

    def agent_heard(self, turn: int, text: str) -> None:
        """Log a clause of the agent as it is heard."""
        self._print(f"agent: {text}")

    def interrupted(self, turn: int, heard: str) -> None:
        """Log an interruption and what of the reply was heard."""
        self._print(f"agent: (interrupted; you heard {heard!r})")

    def latency(self, lat: TurnLatency) -> None:
        """Log a turn's latency."""
        self._print(f"latency {_latency_text(lat)}")

    def note(self, text: str) -> None:
        """Log a notice."""
        self._print(text)

    def stop(self, summary: str) -> None:
        """Print the summary."""
        self._print(f"summary: {summary}")


class RichView:
    """A live terminal view: state, partial transcript, the conversation as heard, latencies."""

    def __init__(self, history: int = 12) -> None:
        from rich.console import Console

        self.console = Console()
        self.banner = ""
        self.current = "listening"
        self.heard_partial = ""
        self.lines: list[tuple[str, str]] = []  # (who, text)
        self.latencies: list[TurnLatency] = []
        self.history = history
        self._agent_turn: int | None = None
        self._live: Any = None
        self._since = time.monotonic()

    def start(self, banner: str) -> None:
        """Start the live display."""
        from rich.live import Live

        self.banner = banner
        self._live = Live(self, console=self.console, refresh_per_second=10, transient=False)
        self._live.start()

    def __rich__(self) -> Any:
        """Render the whole view (rich calls this on every refresh)."""
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        style = STATE_STYLES.get(self.current, "white")
        head = Text.assemble(("● ", style), (self.current, style), f"  {time.monotonic() - self._since:4.1f} s")
        body = Text()
        for who, text in self.lines[-self.history :]:
            body.append(f"{who:>6}: ", style="bold cyan" if who == "you" else "bold magenta")
            body.append(text + "\n")
        if self.heard_partial:
            body.append("   you: ", style="cyan")
            body.append(self.heard_partial + " …\n", style="dim")
        lat = Text("\n".join(_latency_text(x) for x in self.latencies[-3:]), style="dim")
        return Panel(
            Group(head, Text(""), body, lat),
            title="voice-agent talk",
            subtitle=self.banner + "  ·  Ctrl-C to end",
            border_style=style,
        )

    def state(self, state: str) -> None:
        """Show the new state."""
        self.current = state
        self._since = time.monotonic()

    def partial(self, text: str) -> None:
        """Show the partial transcript."""
        self.heard_partial = text

    def final(self, turn: int | None, text: str) -> None:
        """Commit what the user said."""
        self.heard_partial = ""
        self.lines.append(("you", text))

    def agent_heard(self, turn: int, text: str) -> None:
        """Append the agent's clause to its current line."""
        if self._agent_turn == turn and self.lines and self.lines[-1][0] == "agent":
            self.lines[-1] = ("agent", f"{self.lines[-1][1]} {text}")
        else:
            self.lines.append(("agent", text))
        self._agent_turn = turn

    def interrupted(self, turn: int, heard: str) -> None:
        """Show the agent's line cut to what was heard."""
        if self._agent_turn == turn and self.lines and self.lines[-1][0] == "agent":
            self.lines[-1] = ("agent", f"{heard} —")
        elif heard:
            self.lines.append(("agent", f"{heard} —"))
        self._agent_turn = None

    def latency(self, lat: TurnLatency) -> None:
        """Show a turn's latency."""
        self.latencies.append(lat)

    def note(self, text: str) -> None:
        """Print a notice above the live view."""
        self.console.print(f"[yellow]{text}[/yellow]")

    def stop(self, summary: str) -> None:
        """Stop the live display and print the summary."""
        if self._live is not None:
            self._live.stop()
        self.console.print(f"[bold]summary:[/bold] {summary}")
