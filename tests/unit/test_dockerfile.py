"""The Dockerfile, compose.yaml and scripts/setup.sh stay in lock-step (no Docker engine needed)."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import yaml

from voice_agent.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETUP = (ROOT / "scripts" / "setup.sh").read_text()


def stages() -> dict[str, str]:
    """Each build stage's text, by name."""
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\w+)\s*$", DOCKERFILE, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def arg(stage: str, name: str) -> set[str]:
    m = re.search(rf'^ARG {name}="([^"]*)"', stages()[stage], flags=re.M)
    assert m, f"ARG {name} missing in stage {stage}"
    return set(m.group(1).split())


def test_build_stage_installs_exactly_setup_sh_apt_packages() -> None:
    m = re.search(r"^apt_packages=\(([^)]*)\)", SETUP, flags=re.M)
    assert m, "scripts/setup.sh no longer declares apt_packages=(...)"
    assert arg("build", "SETUP_APT_PACKAGES") == set(m.group(1).split())
    assert "${SETUP_APT_PACKAGES}" in stages()["build"]


def test_image_is_built_by_the_ci_install_script() -> None:
    build = stages()["build"]
    assert re.search(r"^RUN VA_SKIP_APT=1 bash scripts/setup.sh", build, flags=re.M)
    assert "GGML_NATIVE=OFF" in SETUP  # the portable llama.cpp build the image inherits
    assert 'voice-agent" doctor' in SETUP or "voice-agent doctor" in SETUP


def test_runtime_stage_keeps_build_runtime_libraries() -> None:
    runtime = arg("runtime", "RUNTIME_APT_PACKAGES")
    build = arg("build", "SETUP_APT_PACKAGES")
    assert {p for p in build if p.startswith("lib")} <= runtime  # shared libraries the venv loads
    assert "libgomp1" in runtime  # llama.cpp's OpenMP, brought by build-essential in the build stage


def test_runtime_is_non_root_with_healthcheck_and_serves_on_all_interfaces() -> None:
    runtime = stages()["runtime"]
    user = re.search(r"^USER (\S+)", runtime, flags=re.M)
    assert user and user.group(1) not in ("root", "0")
    assert "COPY --from=build /app /app" in runtime
    assert re.search(r"^HEALTHCHECK .*\n.*/metrics", runtime, flags=re.M)
    cmd = re.search(r"^CMD (\[.*\])", runtime, flags=re.M)
    assert cmd and yaml.safe_load(cmd.group(1))[:4] == ["voice-agent", "serve", "--host", "0.0.0.0"]


def test_copied_paths_exist_and_are_not_docker_ignored() -> None:
    ignored = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()[:1] not in ("", "#")
    ]
    for m in re.finditer(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, flags=re.M):
        for src in shlex.split(m.group(1)):
            assert (ROOT / src).exists(), src
            excluded = [p for p in ignored if not p.startswith("!") and fnmatch.fnmatch(src, p)]
            assert not excluded, f"{src} is excluded by .dockerignore {excluded}"


def test_compose_wires_the_agent_to_vllm() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    vllm, agent = compose["services"]["vllm"], compose["services"]["agent"]
    assert "--enable-prefix-caching" in vllm["command"]
    name = next(a.split("=", 1)[1] for a in vllm["command"] if a.startswith("--served-model-name="))
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert agent["depends_on"]["vllm"]["condition"] == "service_healthy"
    cmd = agent["command"]
    assert cmd[:2] == ["voice-agent", "serve"]
    llm_opts = [a for a in cmd if a.startswith("--llm")]
    assert f"--llm-model={name}" in llm_opts and "--llm-url=http://vllm:8000/v1" in llm_opts
    # The agent's LLM options are the CLI's real ones.
    args = build_parser().parse_args(["bench", "--manifest", "m.tsv", *llm_opts])
    assert (args.llm, args.llm_url, args.llm_model) == ("openai", "http://vllm:8000/v1", name)
