"""Runtime side of the build_dataset component (KFP hides ``dsl.component`` at run time)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlaa.components.task_io import TaskIO
from vlaa.data.config import BuildDatasetConfig
from vlaa.data.engine import build_dataset
from vlaa.stages import stage


def hash_splits(*split_dirs: Path) -> str:
    """Content hash of the split records, which name every image: the dataset's identity."""
    digest = hashlib.sha256()
    for split_dir in split_dirs:
        digest.update((split_dir / "records.jsonl").read_bytes())
    return digest.hexdigest()


def run(arguments: Mapping[str, Any]) -> None:
    io = TaskIO(arguments)
    with stage("build_dataset") as report:
        card_dir = io.path("card_files")
        card = build_dataset(
            BuildDatasetConfig.model_validate(io.param("config", {})),
            io.path("sft_split"),
            io.path("rl_split"),
            io.path("eval_split"),
            card_dir,
            run_id=io.param("run_id") or "local",
        )
        shutil.copyfile(card_dir / "data_card.md", io.output_file("data_card", ".md"))
        dataset_hash = hash_splits(io.path("sft_split"), io.path("rl_split"), io.path("eval_split"))
        (card_dir / "dataset.json").write_text(json.dumps({"dataset_hash": dataset_hash}))
        io.artifact("card_files").metadata["dataset_hash"] = dataset_hash
        report.metrics["dataset_hash"] = dataset_hash
        splits = card.model_dump().get("splits", {})
        for name in ("sft", "rl", "eval"):
            io.artifact(f"{name}_split").metadata["records"] = splits.get(name, 0)
            report.artifacts[f"{name}_split"] = str(io.path(f"{name}_split"))
        report.metrics.update({f"records_{k}": v for k, v in splits.items()})
        report.artifacts["data_card"] = str(card_dir)
