# The two README commands: `make run` (set up, then run the whole DAG locally) and
# `make test` (set up, then run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUTPUT ?= runs/local

.PHONY: setup engine run test lint lint-imports compile docs bench clean images images-base images-lock

# pyproject's requires-python; checked before anything is created, and a venv left by another
# Python (or broken half-way) is recreated instead of failing the same way every time.
PY_OK := import sys; sys.exit(sys.version_info[:2] != (3, 11))

$(BIN)/vlaa: pyproject.toml
	@$(PYTHON) -c '$(PY_OK)' 2>/dev/null || { echo "error: VLAA-Thinker needs Python 3.11, \
	but $(PYTHON) is $$($(PYTHON) --version 2>&1 || echo missing); run e.g. \
	'make $(or $(MAKECMDGOALS),setup) PYTHON=python3.11'"; exit 1; }
	@if [ -e $(VENV) ] && ! $(BIN)/python -c '$(PY_OK)' 2>/dev/null; then \
	echo "$(VENV) is broken or was made by another Python: recreating it"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch/torchvision first, pinned: these builds lie on the machine's disk (no multi-GB download).
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/vlaa

setup: $(BIN)/vlaa

run: setup
	$(BIN)/vlaa run --local --output $(OUTPUT)

# The container engine for the image tests (tests/containers/): podman, as root on Debian.
engine:
	images/install-engine.sh

test: setup engine
	$(BIN)/ruff check .
	# lint-imports over the installed layout (components/ and pipelines/ mapped under vlaa/)
	$(BIN)/python tests/support/import_graph.py
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

lint-imports: setup
	$(BIN)/python tests/support/import_graph.py

compile: setup
	$(BIN)/vlaa compile --pipeline vlaa-thinker --output pipelines/compiled/vlaa-thinker.yaml
	$(BIN)/vlaa compile --pipeline vlaa-sft-vs-rl --output pipelines/compiled/vlaa-sft-vs-rl.yaml

# Regenerate docs/parameters.md from the config schemas (tests/test_docs.py checks it is fresh).
docs: setup
	$(BIN)/python -m vlaa.cli.parameters_doc

bench: setup
	$(BIN)/python bench/rewards.py
	$(BIN)/python bench/grpo_learning.py
	$(BIN)/python bench/local_run.py
	$(BIN)/python bench/import_time.py

# Build vlaa-trainer and vlaa-tools with Docker (buildx) or podman (DOCKER=podman); PUSH=1 pushes
# and writes images/images.env. No registry: `make images-base`, then BASE_IMAGE=... (images/README.md).
images:
	images/build.sh

images-base:
	images/bootstrap-base.sh

# Regenerate images/requirements/*.lock from pyproject.toml (uv; resolves, installs nothing) and the
# metadata snapshot tests/images/test_locks.py checks them against.
images-lock: setup
	VENV=$(VENV) images/lock-requirements.sh
	VENV=$(VENV) images/lock-metadata.sh

# Everything `make run` / `make test` create, the venv included (they recreate it).
clean:
	rm -rf runs .pytest_cache $(VENV)
