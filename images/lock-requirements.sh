#!/usr/bin/env bash
# Regenerate images/requirements/{trainer,tools}.lock from pyproject.toml, without overrides:
# every locked package's Requires-Dist holds in its lock (tests/images/test_locks.py checks it
# against images/requirements/metadata.json; run images/lock-metadata.sh after this).
#
# Usage: images/lock-requirements.sh   (from the repo root; `make images-lock` runs it)
# Needs: .venv with the project installed (`make setup`; torch must import, because DeepSpeed's
# sdist is asked for its metadata without build isolation) and uv (pinned below; installed into
# .venv when missing). Resolves for CPython 3.11 on x86_64 manylinux_2_36 (glibc 2.36: Debian bookworm, the images' base) against PyPI;
# nothing is built or installed.
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
        --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
        --index-url "$INDEX_URL" --no-header --annotation-style line "$@"
}

# GPU trainer: the project + its [gpu] extra (TRL's vllm and deepspeed extras, vLLM, DeepSpeed).
compile pyproject.toml --extra gpu --no-build-isolation --python "$VENV/bin/python" \
    -o "$REQ/trainer.lock"

# CPU tools: the project's own requirements, with the dev venv's torch (tools.in), from PyPI.
compile pyproject.toml "$REQ/tools.in" -o "$REQ/tools.lock"

echo "wrote $REQ/trainer.lock ($(grep -c '==' "$REQ/trainer.lock") pins)" \
    "and $REQ/tools.lock ($(grep -c '==' "$REQ/tools.lock") pins)"
