"""`voice-agent talk` and `devices` on real PortAudio, against PulseAudio virtual devices.

A private PulseAudio daemon (tests/e2e/ci.pa) provides a speaker `spk` and a
microphone `vmic` fed by playing clips into the sink `micsink`. The CLI runs
as a subprocess whose XDG_RUNTIME_DIR points at that daemon. A sink `tap`
hears both the microphone feed and the speaker through loopbacks, so one
recording shows the user's last word and the agent's first sound on one clock.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voice_agent.audio.pcm import rms_dbfs
from voice_agent.audio.wav import read_wav
from voice_agent.bench.runner import read_manifest, true_speech_end
from voice_agent.bench.wer import wer

pytestmark = pytest.mark.sounddevice

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT / "tests" / "data"
CLIP = "clean_cmu_goforward"
APT = "apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins"


def _pactl(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["pactl", *args], env=env, capture_output=True, text=True, timeout=10, check=True).stdout


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private PulseAudio daemon with the virtual devices; yields the environment that reaches it."""
    for tool in ("pulseaudio", "pactl", "paplay", "parecord"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: {APT}")
    runtime = tmp_path_factory.mktemp("xdg")
    runtime.chmod(0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    env.pop("PULSE_SERVER", None)
    cmd = ["pulseaudio", "-n", "-F", str(HERE / "ci.pa"), "--daemonize=yes", "--exit-idle-time=-1", "--disallow-exit"]
    subprocess.run(cmd, env=env, capture_output=True, timeout=30, check=True)
    pid = int((runtime / "pulse" / "pid").read_text().split()[0])
    try:
        for _ in range(50):
            try:
                _pactl(env, "info")
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        _pactl(env, "load-module", "module-null-sink", "sink_name=tap", "rate=16000", "channels=1", "format=s16le")
        for source in ("micsink.monitor", "spk.monitor"):
            _pactl(env, "load-module", "module-loopback", f"source={source}", "sink=tap", "latency_msec=20")
        yield env
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=15)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "voice_agent", *args]


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """Every stdout line of `proc`, as it comes."""
    out: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return out


def _wait_for(lines: queue.Queue[str], seen: list[str], pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got:\n" + "\n".join(seen))


def _record(env: dict[str, str], device: str, path: Path) -> subprocess.Popen[bytes]:
    cmd = ["parecord", f"--device={device}", "--rate=16000", "--channels=1", "--file-format=wav", str(path)]
    return subprocess.Popen(cmd, env=env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def test_devices_lists_pulse_and_marks_the_defaults(pulse: dict[str, str]) -> None:
    done = subprocess.run(_cli("devices"), env=pulse, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    default = [line for line in done.stdout.splitlines() if re.search(r"\d+\s+default\s", line)]
    assert default and default[0].startswith("><"), done.stdout
    assert re.search(r"\d+ Hz", default[0])
    assert "pulse" in done.stdout


def test_unknown_input_device_lists_what_exists(pulse: dict[str, str]) -> None:
    args = _cli("talk", "--quiet", "--input-device", "no-such-microphone")
    done = subprocess.run(args, env=pulse, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode == 2
    assert "input devices:" in done.stderr and "default" in done.stderr
    assert "--input-device N" in done.stderr


def test_talk_quiet_transcribes_the_mic_and_answers_on_the_speaker(pulse: dict[str, str], tmp_path: Path) -> None:
    clip = next(c for c in read_manifest(DATA / "MANIFEST.tsv") if c.name == CLIP)
    spk_wav, tap_wav = tmp_path / "spk.wav", tmp_path / "tap.wav"
    err_file = tmp_path / "talk.err"
    with open(err_file, "w") as err:
        talk = subprocess.Popen(
            _cli("talk", "--quiet"), env=pulse, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True
        )
    spk = _record(pulse, "spk.monitor", spk_wav)
    tap = _record(pulse, "tap.monitor", tap_wav)
    seen: list[str] = []
    try:
        lines = _lines(talk)
        _wait_for(lines, seen, r"^ready", 90)
        time.sleep(2.5)  # a null sink's monitor starts delivering up to ~2 s late
        subprocess.run(["paplay", "--device=micsink", str(clip.path)], env=pulse, timeout=20, check=True)
        heard = _wait_for(lines, seen, r"^you: ", 30)
        latency = _wait_for(lines, seen, r"^latency turn", 30)
        _wait_for(lines, seen, r"^agent: ", 15)
        time.sleep(4)  # let the reply play out
        talk.send_signal(signal.SIGINT)
        talk.wait(timeout=30)
        time.sleep(0.2)  # the reader thread drains the last lines
    finally:
        if talk.poll() is None:
            talk.kill()
            talk.wait(timeout=10)
        _stop(spk)
        _stop(tap)
    assert talk.returncode == 0, err_file.read_text()
    while not lines.empty():
        seen.append(lines.get())
    assert any(line.startswith("summary: 1 turn") for line in seen), seen

    said = heard.removeprefix("you: ")
    assert wer(clip.transcript, said) <= 0.25, said
    match = re.search(r"turn 1: (\d+) ms", latency)
    assert match, latency
    heard_ms = int(match.group(1))
    assert 0 < heard_ms < 8000, latency  # ~0.5 s on an idle 2-core machine

    reply = read_wav(spk_wav)
    level = max(rms_dbfs(reply[i : i + 8000]) for i in range(0, max(1, len(reply) - 8000), 4000))
    assert level > -35.0, f"the speaker stayed silent ({level:.1f} dBFS)"

    # One clock for both sides: the clip's last word and the agent's first sound in the tap.
    mix = read_wav(tap_wav)
    clip_pcm = read_wav(clip.path)
    start = _find(mix, clip_pcm)
    speech_end = start + true_speech_end(clip_pcm)
    after = mix[speech_end:]
    hop = 160
    loud = [i for i in range(0, len(after) - hop, hop) if rms_dbfs(after[i : i + hop]) > -35.0]
    assert loud, "no reply in the tap recording"
    acoustic_ms = loud[0] / 16.0
    print("\nquiet output:\n" + "\n".join(seen))
    print(f"latency: {heard_ms} ms by the PortAudio clocks, {acoustic_ms:.0f} ms in the tap recording")
    assert 0 < acoustic_ms < 8000


def test_on_speakers_the_agent_does_not_interrupt_itself(pulse: dict[str, str], tmp_path: Path) -> None:
    """The speaker is looped back into the microphone, like a laptop's: the reply must play to its end."""
    clip = next(c for c in read_manifest(DATA / "MANIFEST.tsv") if c.name == CLIP)
    module = _pactl(pulse, "load-module", "module-loopback", "source=spk.monitor", "sink=micsink", "latency_msec=60")
    seen: list[str] = []
    with open(tmp_path / "talk.err", "w") as err:
        talk = subprocess.Popen(
            _cli("talk", "--quiet"), env=pulse, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        lines = _lines(talk)
        _wait_for(lines, seen, r"^ready", 90)
        time.sleep(2.5)
        subprocess.run(["paplay", "--device=micsink", str(clip.path)], env=pulse, timeout=20, check=True)
        _wait_for(lines, seen, r"^agent: ", 45)
        time.sleep(6)  # the whole reply plays and echoes back
        talk.send_signal(signal.SIGINT)
        talk.wait(timeout=30)
        time.sleep(0.2)
        while not lines.empty():
            seen.append(lines.get())
    finally:
        if talk.poll() is None:
            talk.kill()
            talk.wait(timeout=10)
        _pactl(pulse, "unload-module", module.strip())
    print("\nwith the speaker looped into the mic:\n" + "\n".join(seen))
    assert not any("interrupted" in line for line in seen), seen
    assert sum(line.startswith("you: ") for line in seen) == 1, seen


def _find(mix: np.ndarray, clip: np.ndarray) -> int:
    """Where `clip` starts in `mix` (cross-correlation)."""
    a = mix.astype(np.float64)
    b = clip.astype(np.float64)
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)[: len(a)]
    return int(np.argmax(corr))
