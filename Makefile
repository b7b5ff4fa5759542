# Everything a person does with Rootline. `make demo` and `make test` set up all they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
BENCH_CACHE ?= .cache/bench
PIP := $(PY) -m pip
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
# on a machine that has no local CPU wheel (plain PyPI serves a large CUDA build on Linux).
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup setup-test demo test test-fast lint check format bench fixtures browser clean

$(VENV)/.rootline-setup: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PIP_ARGS) torch==2.13.0
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.rootline-test: $(VENV)/.rootline-setup
	$(PIP) install --quiet -e ".[test,ray]"
	@touch $@

setup: $(VENV)/.rootline-setup  ## Create .venv with torch (CPU) and Rootline

setup-test: $(VENV)/.rootline-test  ## setup, plus what the tests need

demo: setup  ## Load the demo help desk, cluster it with the real model, serve http://127.0.0.1:8000
	$(VENV)/bin/rootline demo

browser:  ## Debian chromium for the browser tests (installed when missing and running as root)
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
	      || echo "could not install chromium"; \
	  else echo "chromium missing: install Debian's chromium package to run the browser tests"; fi; \
	fi

test: setup-test browser  ## Lint, then the whole suite on SQLite and PostgreSQL, with the real model and a browser
	$(MAKE) --no-print-directory check
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test-fast: setup-test  ## Only the quick tests
	$(PY) -m pytest -p no:cacheprovider -m "not slow and not model and not browser" $(PYTEST_ARGS)

lint: setup-test check  ## ruff and mypy

check:  ## ruff and mypy, in an environment that is already set up
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy rootline ingest clustering rootcause web

format: setup-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup-test  ## Clustering benchmarks and web latency under load; each prints one JSON object
	mkdir -p $(BENCH_CACHE)
	$(PY) bench/encode_speed.py --model-dir $(BENCH_CACHE)/models
	$(PY) bench/quality.py --cache-dir $(BENCH_CACHE)
	$(PY) bench/cluster_clinc.py --embeddings-cache $(BENCH_CACHE)/clinc.npy
	$(PY) bench/stability.py --embeddings-cache $(BENCH_CACHE)/clinc.npy
	$(PY) bench/incremental.py
	$(PY) bench/cluster_scale.py --n 200000 --embeddings-cache $(BENCH_CACHE)/clinc.npy
	$(PY) bench/ann.py --embeddings-cache $(BENCH_CACHE)/clinc.npy
	$(PY) bench/scale.py
	$(PY) bench/load.py
	$(PY) bench/triage.py

fixtures: setup  ## Regenerate the demo data in fixtures/
	$(PY) fixtures/generate_demo.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
