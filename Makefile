# One-command set-up and checks; see README.md.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install run models test test-js test-web check lint typecheck bench bench-sd bench-patches bench-server bench-demo

install:  ## torch's CPU wheel must come first, or pip pulls gigabytes of CUDA wheels
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'

run: install  ## install, then run txt2img headless on the bundled demo model; the PNG lands in output/
	nodegraph run workflows/txt2img.json --models-dir models

models:  ## the tiny SD1.x test family in ComfyUI's folder layout (random weights)
	test -f models/checkpoints/tiny-sd1.safetensors || nodegraph make-tiny-models models

JS_TESTS := $(wildcard tests/web/*.mjs)

test:  ## everything: the editor's node unit tests and browser tests (Debian's chromium) included
	$(PYTHON) -m pytest

test-js:  ## only the editor's pure modules under node's built-in test runner (node 20)
	$(if $(JS_TESTS),node --test $(JS_TESTS),@echo "no JavaScript tests")

test-web:  ## only the browser tests; screenshots land in tests/web/screenshots/
	$(PYTHON) -m pytest tests/web

lint:
	ruff check nodegraph nodes tests bench
	ruff format --check nodegraph nodes tests bench
	lint-imports

typecheck:
	mypy nodegraph

check: lint typecheck test

bench:
	$(PYTHON) bench/engine.py

bench-sd:  ## ours vs diffusers on an SD1.5-architecture checkpoint (minutes on a CPU)
	$(PYTHON) bench/sd.py

bench-patches:  ## per-step cost of a hypernetwork and a ControlNet (minutes on a CPU)
	$(PYTHON) bench/patches.py

bench-demo:  ## the demo model's prompt following, ControlNet and hypernetwork (minutes on a CPU)
	$(PYTHON) bench/demo_quality.py --sheet bench/demo_sheet.png

bench-server:  ## 1,000 prompts from 20 concurrent clients against a live `nodegraph serve`
	$(PYTHON) bench/server.py
