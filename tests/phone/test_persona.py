"""Personas: TOML loading, the short system prompt, speakable text, and the demo persona on the real LLM."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_agent.persona import PersonaError, load_persona, speakable


def test_demo_persona_gives_a_short_prompt() -> None:
    persona = load_persona(None)
    prompt = persona.system_prompt()
    assert prompt.startswith(f"You are {persona.name},") and len(prompt) < 300
    assert persona.filler(0) and persona.filler(1) != persona.filler(0)


def test_persona_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('name = "Ada"\nbackground = "a retired engineer in Leeds"\nstyle = "Speak briefly and warmly."\n')
    persona = load_persona(path)
    assert persona.system_prompt() == "You are Ada, a retired engineer in Leeds. Speak briefly and warmly."
    assert persona.filler(3) is None
    path.write_text('name = "Ada"\n')
    with pytest.raises(PersonaError, match="background"):
        load_persona(path)
    path.write_text("name = ")
    with pytest.raises(PersonaError, match="TOML"):
        load_persona(path)
    with pytest.raises(PersonaError, match="cannot read"):
        load_persona(tmp_path / "missing.toml")


def test_speakable() -> None:
    text = "**Sure!** 😀 Here you go:\n- coffee & cake\n1. 50% off"
    assert speakable(text) == "Sure! Here you go: coffee and cake 50 percent off"


@pytest.mark.models
@pytest.mark.phone
def test_demo_persona_on_the_bundled_llm() -> None:
    from voice_agent.models import load_models
    from voice_agent.stages.base import Message

    models = load_models()
    try:
        prompt = load_persona(None).system_prompt()
        for question in ("Hey, how's it going?", "What did you do last weekend?"):
            reply = "".join(models.llm.stream([Message("system", prompt), Message("user", question)], lambda: False))
            said = speakable(reply)
            assert said and len(said.split()) <= 60, reply
            assert not any(mark in reply for mark in ("**", "\n-", "#")), reply
    finally:
        models.close()
