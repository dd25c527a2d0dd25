# One-command entry points. Both set everything up first (apt packages, .venv,
# the portable llama.cpp build, the bundled models); a second run is quick.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-dev run test lint bench clean

setup:
	bash scripts/setup.sh

setup-dev:
	VA_DEV=1 bash scripts/setup.sh

run: setup
	$(VENV)/bin/voice-agent serve

test: setup-dev
	bash scripts/test.sh

lint:
	$(VENV)/bin/ruff check voice_agent tests
	$(VENV)/bin/ruff format --check voice_agent tests
	$(VENV)/bin/mypy

bench: setup
	$(VENV)/bin/voice-agent bench --manifest ../shared/eval/MANIFEST.tsv --match 'clean_*' --mode both --json bench.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
