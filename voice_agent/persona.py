"""Personas: who the agent is on a call (name, background, speaking style) -> a short system prompt.

`--persona FILE` reads a TOML file with `name`, `background` and `style`
(and optionally `fillers`, the openers it may use while it thinks); without
one the built-in demo persona for casual phone chat is used. The prompt is
kept to a few plain sentences: the bundled 135M-parameter LLM follows that
and drifts with anything longer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

DEMO = Path(__file__).resolve().parent / "personas" / "demo.toml"
MAX_FIELD_CHARS = 400


class PersonaError(ValueError):
    """The persona file is missing, not TOML, or lacks a field."""


@dataclass(frozen=True)
class Persona:
    """Who the agent is."""

    name: str
    background: str
    style: str
    fillers: tuple[str, ...] = field(default_factory=tuple)

    def system_prompt(self) -> str:
        """The SessionConfig.system_prompt for this persona."""
        return f"You are {self.name}, {self.background.rstrip('.')}. {self.style.strip()}"

    def filler(self, turn: int) -> str | None:
        """A short opener to say while a slow reply is on its way (None without fillers)."""
        return self.fillers[turn % len(self.fillers)] if self.fillers else None


_MARKUP = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*(?:[-*•]|\d+[.)])\s+)", re.MULTILINE)
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]")
_SYMBOLS = {"&": " and ", "%": " percent", "+": " plus ", "=": " equals ", "@": " at ", "~": " about "}


def speakable(text: str) -> str:
    """Text as a person would say it: no markdown, list markers or emoji; common symbols as words.

    Digits stay: Piper's phonemizer (espeak-ng) reads numbers as words.
    """
    text = _EMOJI.sub("", _MARKUP.sub("", text))
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    return " ".join(text.split())


def load_persona(path: Path | None) -> Persona:
    """Read a persona TOML file (None: the built-in demo persona)."""
    source = path or DEMO
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PersonaError(f"cannot read persona file {source}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PersonaError(f"{source} is not valid TOML: {exc}") from exc
    values: dict[str, str] = {}
    for key in ("name", "background", "style"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise PersonaError(f"{source}: `{key}` must be a non-empty string")
        if len(value) > MAX_FIELD_CHARS:
            raise PersonaError(f"{source}: `{key}` is over {MAX_FIELD_CHARS} characters; the small LLM needs it short")
        values[key] = " ".join(value.split())
    fillers = data.get("fillers", [])
    if not isinstance(fillers, list) or not all(isinstance(f, str) for f in fillers):
        raise PersonaError(f"{source}: `fillers` must be a list of strings")
    return Persona(values["name"], values["background"], values["style"], tuple(fillers))
