# One-command set-up and checks; see README.md.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install run test check lint typecheck bench

install:  ## torch's CPU wheel must come first, or pip pulls gigabytes of CUDA wheels
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'

run: install  ## install, then run the demo workflow headless
	nodegraph run workflows/hello_text.json

test:
	$(PYTHON) -m pytest

lint:
	ruff check nodegraph nodes tests bench
	ruff format --check nodegraph nodes tests bench
	lint-imports

typecheck:
	mypy nodegraph

check: lint typecheck test

bench:
	$(PYTHON) bench/engine.py
