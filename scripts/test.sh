#!/usr/bin/env bash
# Runs the whole test suite in .venv: lint, types, unit, stage, integration
# (real bundled models on real speech) and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
echo "== ruff"; $V/ruff check voice_agent tests; $V/ruff format --check voice_agent tests
echo "== mypy"; $V/mypy
echo "== pytest"; $V/python -m pytest -q "$@"
