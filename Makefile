# The two README commands: `make run` (set up, then run the whole DAG locally) and
# `make test` (set up, then run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUTPUT ?= runs/local

.PHONY: setup run test lint lint-imports compile docs bench clean images images-base images-lock

$(BIN)/vlaa: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch/torchvision first, pinned: these builds lie on the machine's disk (no multi-GB download).
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/vlaa

setup: $(BIN)/vlaa

run: setup
	$(BIN)/vlaa run --local --output $(OUTPUT)

test: setup
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

clean:
	rm -rf runs .pytest_cache
