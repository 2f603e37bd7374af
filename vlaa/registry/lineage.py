"""Which code produced a model: the code version recorded in its card and manifest."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


# Key of the base model's lineage (vlaa.modeling.base_models) in the metadata of a model
# artifact: prepare sets it, sft / grpo copy it from their input model, publish reads it.
BASE_MODEL_METADATA = "base_model_lineage"


def base_model_lineage(recorded: Mapping[str, Any] | None) -> dict[str, Any]:
    """Lineage entries for the card and manifest from a base model's recorded lineage:
    ``base_model`` (the Hub repo id when there is one, the card's ``base_model`` field; else the
    source as given) and ``base_model_source`` (repo and commit / S3 URI / registry version,
    checksums). Empty when nothing was recorded."""
    if not recorded:
        return {}
    name = recorded.get("repo_id") or recorded.get("source")
    return {"base_model": name, "base_model_source": dict(recorded)}
