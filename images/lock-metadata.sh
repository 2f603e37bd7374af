#!/usr/bin/env bash
# Snapshot the metadata of every package in images/requirements/*.lock from PyPI into
# images/requirements/metadata.json (images/lock_metadata.py), for the offline lock test
# (tests/images/test_locks.py). Run after images/lock-requirements.sh; commit the result.
# Entries already in the snapshot are kept (a name==version on PyPI never changes).
set -euo pipefail
VENV=${VENV:-.venv}
REQ=images/requirements
# sdists (DeepSpeed) are asked for metadata without build isolation: the venv needs torch
# (`make setup`) and wheel (setuptools' bdist_wheel before setuptools 70).
"$VENV/bin/python" -c "import wheel" 2>/dev/null || "$VENV/bin/pip" install --quiet wheel==0.48.0
"$VENV/bin/python" images/lock_metadata.py "$REQ/trainer.lock" "$REQ/tools.lock" \
    --python "$VENV/bin/python" --output "$REQ/metadata.json"
