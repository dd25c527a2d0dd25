"""The core stays sans-I/O: no asyncio, clock, threads or sockets."""

from __future__ import annotations

import ast
from pathlib import Path

import voice_agent.core

FORBIDDEN = {"asyncio", "time", "threading", "socket", "datetime", "subprocess", "os"}


def test_core_imports_nothing_impure() -> None:
    core = Path(voice_agent.core.__file__).parent
    offenders = []
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            offenders += [f"{path.name}: {n}" for n in names if n in FORBIDDEN]
    assert offenders == []


def test_no_module_imports_piper() -> None:
    """piper-tts is GPL-3.0: it may only run as a separate program."""
    root = Path(voice_agent.core.__file__).parent.parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "piper" for a in node.names), path
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] != "piper", path
