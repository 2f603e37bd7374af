"""Runtime side of the publish component: KFP arguments in, ``vlaa.registry``, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlaa.components.task_io import TaskIO
from vlaa.evaluation.report import read_report
from vlaa.registry.config import PublishConfig
from vlaa.registry.layout import MODEL_CARD, version_prefix
from vlaa.registry.lineage import BASE_MODEL_METADATA, base_model_lineage, code_version
from vlaa.registry.publish import publish
from vlaa.stages import stage
from vlaa.storage import open_store


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _data_card(card_dir: Path) -> dict[str, Any]:
    """The build step's data card, with its Markdown rendering when there is one."""
    data_card = _read_json(card_dir / "data_card.json")
    markdown = card_dir / "data_card.md"
    if markdown.is_file():
        data_card["markdown"] = markdown.read_text()
    return data_card


def run(arguments: Mapping[str, Any]) -> None:
    """Publish the model with its reports, data card and lineage; copy its card out."""
    io = TaskIO(arguments)
    with stage("publish") as recorder:
        model_dir, card_dir = io.path("model"), io.path("card_files")
        lineage = {
            "pipeline_run_id": io.param("run_id"),
            "code_version": code_version(),
            "dataset_hash": _read_json(card_dir / "dataset.json").get("dataset_hash"),
            "arm": f"grpo-from-{io.param('arm')}",
            **base_model_lineage(io.artifact("model").metadata.get(BASE_MODEL_METADATA)),
        }
        config = PublishConfig.model_validate(io.param("config"))
        result = publish(
            model_dir,
            config,
            read_report(io.path("eval_report"), missing_ok=True),
            _read_json(model_dir / "vlaa_training.json"),
            _data_card(card_dir),
            lineage,
            base_metrics=read_report(io.path("base_report"), missing_ok=True),
        )
        published = io.artifact("published")
        io.output_file("published", ".json").write_text(result.model_dump_json(indent=2))
        published.metadata.update(result.model_dump(exclude={"files"}))
        card_key = version_prefix(config.model_name, result.version) + MODEL_CARD
        io.output_file("model_card", ".md").write_bytes(
            open_store(config.store_uri).get_bytes(card_key)
        )
        recorder.metrics.update(
            {"version": result.version, "promoted": result.promoted, "resumed": result.resumed}
        )
        recorder.artifacts["published"] = result.uri
