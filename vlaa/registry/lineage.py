"""Which code produced a model: the code version recorded in its card and manifest."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from vlaa import __version__


def code_version() -> str:
    """``VLAA_CODE_VERSION`` (set by CI / the image build), else the git commit, else the
    package version."""
    from_env = os.environ.get("VLAA_CODE_VERSION")
    if from_env:
        return from_env
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"git:{commit}" if commit else f"vlaa-thinker {__version__}"
