"""Resolve the base model named by the ``base_model`` run parameter into a model folder (the
prepare step and the CLI use it)."""

from __future__ import annotations

import shutil
from pathlib import Path

from vlaa.errors import UserError
from vlaa.modeling.factory import make_model
from vlaa.modeling.loading import check_model_dir


def resolve_base_model(source: str, output_dir: Path) -> Path:
    """Write the base model into ``output_dir``.

    ``tiny`` / ``tiny:SEED`` build the tiny Qwen2.5-VL-architecture model locally (random
    weights, locally trained tokenizer); a folder path is checked and copied.
    """
    if source == "tiny" or source.startswith("tiny:"):
        seed_text = source.partition(":")[2] or "0"
        if not seed_text.isdigit():
            raise UserError(f"base_model {source!r}: the seed after 'tiny:' must be a number")
        return make_model(output_dir, size="tiny", seed=int(seed_text))
    path = Path(source.removeprefix("file://"))
    if "://" in source and not source.startswith("file://"):
        raise UserError(
            f"base_model {source!r}: supported sources are 'tiny', 'tiny:SEED' or a model folder"
        )
    check_model_dir(path)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    shutil.copytree(path, output_dir)
    return output_dir
