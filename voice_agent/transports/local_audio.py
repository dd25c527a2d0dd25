"""The machine's own microphone and speakers through sounddevice (PortAudio).

PortAudio calls its callbacks on its own thread. Input blocks go to the event
loop with `call_soon_threadsafe` into an asyncio queue; output is read by the
output callback from a lock-protected `PlaybackBuffer` that the loop fills.
Neither side ever waits for the other. Device rates are converted with
streaming resamplers (device rate -> 16 kHz in, session rate -> device rate out).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio.pcm import SAMPLE_RATE
from ..audio.resample import StreamResampler

FALLBACK_RATES = (48000, 44100, 16000, 32000, 22050, 96000, 8000)
INPUT_BLOCK_MS = 20
OUTPUT_BLOCK_MS = 10
LATENCY = "high"  # PortAudio's "low" starves on the ALSA pulse plugin; "high" is ~40 ms


class AudioDeviceError(RuntimeError):
    """A sound device problem, with a message that says what to do about it."""


def load_sounddevice() -> Any:
    """Import sounddevice, explaining a missing PortAudio library."""
    try:
        import sounddevice
    except OSError as exc:  # raised at import when libportaudio cannot be loaded
        raise AudioDeviceError(
            f"PortAudio is not installed ({exc}).\n"
            "Install it: sudo apt-get install libportaudio2   (Fedora: portaudio, macOS: brew install portaudio)"
        ) from exc
    return sounddevice


@dataclass(frozen=True)
class Device:
    """One PortAudio device as `voice-agent devices` lists it."""

    index: int
    name: str
    hostapi: str
    inputs: int
    outputs: int
    default_rate: int
    default_input: bool
    default_output: bool


def list_devices(sd: Any) -> list[Device]:
    """Every device PortAudio knows, with the default input and output marked."""
    apis = sd.query_hostapis()
    default_in, default_out = _defaults(sd)
    return [
        Device(
            index=i,
            name=d["name"],
            hostapi=apis[d["hostapi"]]["name"],
            inputs=d["max_input_channels"],
            outputs=d["max_output_channels"],
            default_rate=int(d["default_samplerate"]),
            default_input=i == default_in,
            default_output=i == default_out,
        )
        for i, d in enumerate(sd.query_devices())
    ]


def _defaults(sd: Any) -> tuple[int, int]:
    return int(sd.default.device[0]), int(sd.default.device[1])


def format_devices(devices: list[Device]) -> str:
    """A table of devices: '>' marks the default input, '<' the default output."""
    lines = []
    for d in devices:
        mark = (">" if d.default_input else " ") + ("<" if d.default_output else " ")
        lines.append(
            f"{mark} {d.index:3d}  {d.name}  ({d.hostapi}, {d.inputs} in, {d.outputs} out, {d.default_rate} Hz)"
        )
    return "\n".join(lines)


def resolve_device(sd: Any, spec: str | None, kind: str) -> int:
    """The device index for `--input-device`/`--output-device` (a number, part of a name, or None)."""
    channels = "max_input_channels" if kind == "input" else "max_output_channels"
    devices = list_devices(sd)
    usable = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
    hint = (
        f"{kind} devices:\n{format_devices(usable) if usable else '  (none)'}\n"
        f"Pick one with --{kind}-device N (its number) or part of its name; `voice-agent devices` lists all."
    )
    if not usable:
        what = "microphone" if kind == "input" else "speaker"
        raise AudioDeviceError(f"no {kind} device ({what}) found.\n{hint}")
    if spec is None:
        index = _defaults(sd)[0 if kind == "input" else 1]
        if index < 0:
            raise AudioDeviceError(f"there is no default {kind} device.\n{hint}")
        return index
    try:
        info = sd.query_devices(int(spec) if spec.strip().isdigit() else spec, kind)
    except (ValueError, sd.PortAudioError) as exc:
        raise AudioDeviceError(f"{kind} device {spec!r}: {exc}\n{hint}") from exc
    if info[channels] < 1:
        raise AudioDeviceError(f"{info['name']!r} has no {kind} channels.\n{hint}")
    return int(info["index"])


def pick_format(sd: Any, device: int, kind: str) -> tuple[int, int]:
    """(rate, channels) the device accepts: its default rate if possible, else a common one."""
    info = sd.query_devices(device)
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    rates = [int(info["default_samplerate"]), *FALLBACK_RATES]
    max_ch = info["max_input_channels" if kind == "input" else "max_output_channels"]
    for channels in sorted({1, min(2, max_ch)}):
        for rate in dict.fromkeys(rates):
            try:
                check(device=device, samplerate=rate, channels=channels, dtype="int16")
                return rate, channels
            except (ValueError, sd.PortAudioError):
                continue
    raise AudioDeviceError(
        f"{info['name']!r} accepts none of the rates {sorted(set(rates))} Hz as 16-bit {kind}; pick another device."
    )


def open_error(exc: Exception, name: str, kind: str) -> AudioDeviceError:
    """A PortAudio error on opening a stream, explained."""
    text = str(exc)
    if "-9985" in text or "unavailable" in text.lower() or "busy" in text.lower():
        return AudioDeviceError(
            f"{kind} device {name!r} is busy or unavailable ({text}).\n"
            f"Close the program using it, or pick another with --{kind}-device (see `voice-agent devices`)."
        )
    return AudioDeviceError(f"cannot open {kind} device {name!r}: {text}")


class PlaybackBuffer:
    """Turn-tagged audio waiting for the output callback; thread-safe, never blocks for long.

    Clause ends are stored as markers so that running dry at the end of a
    clause is a gap, and running dry in the middle of one is an underrun.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[tuple[int, np.ndarray | None]] = deque()  # None: a clause ends here
        self._offset = 0  # samples of _items[0] already played
        self._cleared: set[int] = set()
        self._epoch: dict[int, int] = {}  # clears of each turn so far: reports from before one are stale
        self._mid_clause = False
        self.underruns = 0
        self.played: dict[int, int] = {}  # samples of each turn played so far

    def write(self, turn: int, pcm: np.ndarray) -> bool:
        """Queue `pcm` of `turn`; False (and dropped) if the turn was cleared."""
        with self._lock:
            if turn in self._cleared:
                return False
            if len(pcm):
                self._items.append((turn, np.asarray(pcm, dtype=np.int16)))
            return True

    def end_clause(self, turn: int) -> None:
        """Mark that a clause of `turn` ends after what is queued so far."""
        with self._lock:
            if turn not in self._cleared:
                self._items.append((turn, None))

    def clear(self, turn: int, rewind_to: int | None = None) -> int:
        """Drop every queued sample of `turn` now and refuse its pieces until `resume`; returns samples dropped.

        `rewind_to` resets the turn's played count to where the listener was last
        reported to be: the session resumes the turn from that point.
        """
        with self._lock:
            self._cleared.add(turn)
            self._epoch[turn] = self._epoch.get(turn, 0) + 1
            if rewind_to is not None:
                self.played[turn] = rewind_to
            dropped = 0
            kept: deque[tuple[int, np.ndarray | None]] = deque()
            for i, (t, pcm) in enumerate(self._items):
                if t == turn:
                    dropped += 0 if pcm is None else len(pcm) - (self._offset if i == 0 else 0)
                else:
                    kept.append((t, pcm))
            if self._items and self._items[0][0] == turn:
                self._offset = 0
                self._mid_clause = False
            self._items = kept
            return dropped

    def resume(self, turn: int) -> None:
        """Accept pieces of `turn` again (the session goes on from where it was heard)."""
        with self._lock:
            self._cleared.discard(turn)

    def epoch(self, turn: int) -> int:
        """How many times `turn` was cleared."""
        return self._epoch.get(turn, 0)  # one dict read: atomic

    def is_cleared(self, turn: int) -> bool:
        """True once `turn` was cleared."""
        with self._lock:
            return turn in self._cleared

    def buffered(self) -> int:
        """Samples queued and not yet played."""
        with self._lock:
            return sum(len(p) for _, p in self._items if p is not None) - self._offset

    def read_into(self, out: np.ndarray) -> list[tuple[int, int, int]]:
        """Fill `out` (1-D int16), silence after what is queued; returns [(turn, samples played, epoch)]."""
        n = len(out)
        pos = 0
        touched: dict[int, tuple[int, int]] = {}
        with self._lock:
            while pos < n and self._items:
                turn, pcm = self._items[0]
                if pcm is None:
                    self._items.popleft()
                    self._mid_clause = False
                    continue
                take = min(n - pos, len(pcm) - self._offset)
                out[pos : pos + take] = pcm[self._offset : self._offset + take]
                pos += take
                self._offset += take
                self.played[turn] = self.played.get(turn, 0) + take
                touched[turn] = (self.played[turn], self._epoch.get(turn, 0))
                self._mid_clause = True
                if self._offset == len(pcm):
                    self._items.popleft()
                    self._offset = 0
            if pos < n:
                out[pos:] = 0
                if self._mid_clause:
                    self.underruns += 1
                    self._mid_clause = False
        return [(turn, played, epoch) for turn, (played, epoch) in touched.items()]


Heard = Callable[[int, float, float], None]  # (turn, heard_s, monotonic time it reached the speaker)


class LocalAudio:
    """Microphone and speaker streams; the loop side is `read()` and `play()`."""

    def __init__(self, sd: Any, input_device: int, output_device: int, source_rate: int) -> None:
        self.sd = sd
        self.input_device = input_device
        self.output_device = output_device
        self.in_name = str(sd.query_devices(input_device)["name"])
        self.out_name = str(sd.query_devices(output_device)["name"])
        self.in_rate, self.in_channels = pick_format(sd, input_device, "input")
        self.out_rate, self.out_channels = pick_format(sd, output_device, "output")
        self.source_rate = source_rate  # the session's output rate
        self.buffer = PlaybackBuffer()
        self.on_heard: Heard | None = None
        self.input_overflows = 0
        self.output_underflows = 0  # PortAudio's own count (the device ran dry)
        self.last_sound_t = 0.0  # monotonic time the speaker last played a queued sample
        self._in_resampler = StreamResampler(self.in_rate, SAMPLE_RATE)
        self._out_resamplers: dict[int, StreamResampler] = {}
        self._received: dict[int, int] = {}  # source-rate position of each turn's audio received so far
        self._reported: dict[int, float] = {}  # seconds of each turn last reported heard
        self._queue: asyncio.Queue[tuple[float, np.ndarray]] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streams: list[Any] = []

    def open(self) -> None:
        """Open and start both streams (call from the event loop's thread)."""
        self._loop = asyncio.get_running_loop()
        sd = self.sd
        try:
            inp = sd.InputStream(
                device=self.input_device, samplerate=self.in_rate, channels=self.in_channels, dtype="int16",
                blocksize=self.in_rate * INPUT_BLOCK_MS // 1000, latency=LATENCY, callback=self._in_callback,
            )  # fmt: skip
        except sd.PortAudioError as exc:
            raise open_error(exc, self.in_name, "input") from exc
        self._streams.append(inp)
        try:
            out = sd.OutputStream(
                device=self.output_device, samplerate=self.out_rate, channels=self.out_channels, dtype="int16",
                blocksize=self.out_rate * OUTPUT_BLOCK_MS // 1000, latency=LATENCY, callback=self._out_callback,
            )  # fmt: skip
        except sd.PortAudioError as exc:
            self.close()
            raise open_error(exc, self.out_name, "output") from exc
        self._streams.append(out)
        for s in self._streams:
            s.start()

    def close(self) -> None:
        """Stop and close the streams."""
        for s in self._streams:
            try:
                s.abort()
                s.close()
            except Exception:
                pass
        self._streams.clear()

    @property
    def output_latency_s(self) -> float:
        """The output stream's reported latency."""
        return float(self._streams[1].latency) if len(self._streams) > 1 else 0.0

    # ---- PortAudio threads -------------------------------------------------

    def _in_callback(self, indata: np.ndarray, frames: int, t: Any, status: Any) -> None:
        if status.input_overflow:
            self.input_overflows += 1
        adc = t.inputBufferAdcTime or t.currentTime
        at = time.monotonic() - (t.currentTime - adc) if adc else time.monotonic()
        block = indata[:, 0].copy()
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (at, block))

    def _out_callback(self, outdata: np.ndarray, frames: int, t: Any, status: Any) -> None:
        if status.output_underflow:
            self.output_underflows += 1
        mono = np.empty(frames, dtype=np.int16)
        played = self.buffer.read_into(mono)
        outdata[:] = mono[:, None]
        if not played:
            return
        ahead = (t.outputBufferDacTime - t.currentTime) if t.outputBufferDacTime else self.output_latency_s
        heard_at = time.monotonic() + min(max(ahead, 0.0), 2.0) + frames / self.out_rate
        self.last_sound_t = heard_at
        if self.on_heard is not None and self._loop is not None:
            for turn, samples, epoch in played:
                self._loop.call_soon_threadsafe(self._report, turn, samples / self.out_rate, heard_at, epoch)

    # ---- event loop side ---------------------------------------------------

    def _report(self, turn: int, heard_s: float, heard_at: float, epoch: int) -> None:
        """Pass a playback position on when the speaker actually plays it (the output stream's clock)."""
        assert self._loop is not None
        delay = heard_at - time.monotonic()
        if delay > 0:
            self._loop.call_later(delay, self._deliver, turn, heard_s, heard_at, epoch)
        else:
            self._deliver(turn, heard_s, heard_at, epoch)

    def _deliver(self, turn: int, heard_s: float, heard_at: float, epoch: int) -> None:
        if epoch != self.buffer.epoch(turn) or self.buffer.is_cleared(turn):
            return  # played before a clear: the session has rewound past it
        self._reported[turn] = heard_s
        if self.on_heard is not None:
            self.on_heard(turn, heard_s, heard_at)

    async def read(self) -> tuple[float, np.ndarray]:
        """The next microphone block: (monotonic time its first sample was captured, 16 kHz int16)."""
        at, block = await self._queue.get()
        return at, self._in_resampler.process(block)

    def play(self, turn: int, pcm: np.ndarray) -> None:
        """Queue `pcm` (int16 at the session's rate) of `turn` for the speaker."""
        if self.buffer.is_cleared(turn):
            return
        for old in [t for t in self._out_resamplers if t < turn]:
            self.buffer.write(old, self._out_resamplers.pop(old).flush())
        rs = self._out_resamplers.setdefault(turn, StreamResampler(self.source_rate, self.out_rate))
        self._received[turn] = self._received.get(turn, 0) + len(pcm)
        self.buffer.write(turn, rs.process(pcm))

    def clause_end(self, turn: int, audio_s: float) -> None:
        """A clause of `turn` ended at `audio_s`: flush the resampler's tail if nothing newer arrived."""
        rs = self._out_resamplers.get(turn)
        if rs is not None and abs(self._received.get(turn, 0) / self.source_rate - audio_s) < 0.002:
            self.buffer.write(turn, rs.flush())
            self.buffer.end_clause(turn)

    def clear(self, turn: int) -> int:
        """Silence `turn` at once: drop its queued samples and its pieces until a resume."""
        self._out_resamplers.pop(turn, None)
        heard = self._reported.get(turn)
        if heard is not None:  # the session rewinds to the last reported position
            self._received[turn] = round(heard * self.source_rate)
        return self.buffer.clear(turn, None if heard is None else round(heard * self.out_rate))

    def resume(self, turn: int) -> None:
        """The session plays `turn` on from where it was heard."""
        self.buffer.resume(turn)
