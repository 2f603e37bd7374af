"""Runtime side of the build_dataset component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import Artifact, Dataset, Markdown, Output


def hash_splits(*split_dirs) -> str:
    """Content hash of the split records, which name every image: the dataset's identity."""
    import hashlib

    digest = hashlib.sha256()
    for split_dir in split_dirs:
        digest.update((split_dir / "records.jsonl").read_bytes())
    return digest.hexdigest()


def run_from_kfp(
    config: dict,
    sft_split: Output[Dataset],
    rl_split: Output[Dataset],
    eval_split: Output[Dataset],
    data_card: Output[Markdown],
    card_files: Output[Artifact],
    run_id: str = "",
) -> None:
    import json
    import shutil
    from pathlib import Path

    from vlaa.components.build_dataset.step import BuildDatasetConfig, build_dataset
    from vlaa.stages import stage

    with stage("build_dataset") as report:
        card_dir = Path(card_files.path)
        card = build_dataset(
            BuildDatasetConfig.model_validate(config),
            Path(sft_split.path),
            Path(rl_split.path),
            Path(eval_split.path),
            card_dir,
            run_id=run_id or "local",
        )
        shutil.copyfile(card_dir / "data_card.md", data_card.path)
        dataset_hash = hash_splits(Path(sft_split.path), Path(rl_split.path), Path(eval_split.path))
        (card_dir / "dataset.json").write_text(json.dumps({"dataset_hash": dataset_hash}))
        card_files.metadata["dataset_hash"] = dataset_hash
        report.metrics["dataset_hash"] = dataset_hash
        splits = card.model_dump().get("splits", {})
        for artifact, name in ((sft_split, "sft"), (rl_split, "rl"), (eval_split, "eval")):
            artifact.metadata["records"] = splits.get(name, 0)
            report.artifacts[f"{name}_split"] = artifact.path
        report.metrics.update({f"records_{k}": v for k, v in splits.items()})
        report.artifacts["data_card"] = str(card_dir)
