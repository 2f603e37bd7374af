"""Runtime side of the publish component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import Artifact, Input, Markdown, Model, Output


def run_from_kfp(
    model: Input[Model],
    eval_report: Input[Artifact],
    base_report: Input[Artifact],
    card_files: Input[Artifact],
    config: dict,
    arm: str,
    run_id: str,
    published: Output[Artifact],
    model_card: Output[Markdown],
) -> None:
    import json
    from pathlib import Path

    from vlaa.components.publish.step import PublishConfig, code_version, publish
    from vlaa.stages import stage
    from vlaa.storage import open_store

    def read_json(path: Path) -> dict:
        return json.loads(path.read_text()) if path.is_file() else {}

    with stage("publish") as report:
        model_dir = Path(model.path)
        card_dir = Path(card_files.path)
        metrics = read_json(Path(eval_report.path)).get("metrics", {})
        base_metrics = read_json(Path(base_report.path)).get("metrics", {})
        data_card = read_json(card_dir / "data_card.json")
        markdown = card_dir / "data_card.md"
        if markdown.is_file():
            data_card["markdown"] = markdown.read_text()
        lineage = {
            "pipeline_run_id": run_id,
            "code_version": code_version(),
            "dataset_hash": read_json(card_dir / "dataset.json").get("dataset_hash"),
            "arm": f"grpo-from-{arm}",
        }
        publish_config = PublishConfig.model_validate(config)
        result = publish(
            model_dir,
            publish_config,
            metrics,
            read_json(model_dir / "vlaa_training.json"),
            data_card,
            lineage,
            base_metrics=base_metrics,
        )
        Path(published.path).write_text(result.model_dump_json(indent=2))
        published.metadata.update(result.model_dump(exclude={"files"}))
        card_key = f"{publish_config.model_name}/versions/{result.version}/README.md"
        Path(model_card.path).write_bytes(open_store(publish_config.store_uri).get_bytes(card_key))
        report.metrics.update(
            {"version": result.version, "promoted": result.promoted, "resumed": result.resumed}
        )
        report.artifacts["published"] = result.uri
