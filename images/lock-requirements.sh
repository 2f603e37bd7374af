#!/usr/bin/env bash
# Regenerate images/requirements/{trainer,tools}.lock from pyproject.toml's pins.
#
# Usage: images/lock-requirements.sh   (from the repo root; `make images-lock` runs it)
# Needs: .venv with the project installed (`make setup`: torch must import, because the
# deepspeed and flash-attn sdists are asked for their metadata without build isolation) and
# uv (pinned below; installed into .venv when missing). Resolves for CPython 3.11 on
# x86_64 manylinux_2_28 against PyPI only; nothing is built or installed.
set -euo pipefail

UV_VERSION=0.13.8
VENV=${VENV:-.venv}
REQ=images/requirements
INDEX_URL=${INDEX_URL:-https://pypi.org/simple}

if ! "$VENV/bin/uv" --version 2>/dev/null | grep -q " $UV_VERSION"; then
    "$VENV/bin/pip" install --quiet "uv==$UV_VERSION"
fi

compile() {
    UV_NO_CONFIG=1 "$VENV/bin/uv" pip compile --quiet \
        --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
        --index-url "$INDEX_URL" --no-header --annotation-style line "$@"
}

# GPU trainer: the project's pins + deepspeed, vllm, flash-attn (trainer.in); deepspeed and
# flash-attn are built from source in the image (trainer-wheels.in), so they are resolved here
# but left out of the lock. The project's torch/torchvision/transformers override vLLM's
# exact pins (trainer-overrides.txt).
compile pyproject.toml "$REQ/trainer.in" \
    --override "$REQ/trainer-overrides.txt" \
    --no-build-isolation --python "$VENV/bin/python" \
    --no-emit-package deepspeed --no-emit-package flash-attn \
    -o "$REQ/trainer.lock"

# CPU tools: the project's pins; torch/torchvision are installed from the PyTorch CPU index
# (tools-torch.txt), so they and torch's CUDA wheels are left out of the lock.
compile pyproject.toml \
    --override "$REQ/tools-overrides.txt" \
    --no-emit-package torch --no-emit-package torchvision \
    -o "$REQ/tools.lock"

echo "wrote $REQ/trainer.lock ($(grep -c '==' "$REQ/trainer.lock") pins)" \
    "and $REQ/tools.lock ($(grep -c '==' "$REQ/tools.lock") pins)"
