"""One pipeline step at a time, without KFP: make-tiny-model, prepare, build-dataset, sft,
grpo, evaluate, publish."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vlaa.cli.app import ConfigOption, app, console, fail, guarded, load_step_config


@app.command("make-tiny-model")
def make_tiny_model(
    directory: Annotated[Path, typer.Argument(help="Folder to write the model into.")],
    size: Annotated[str, typer.Option(help="tiny, 3b or 7b (random weights).")] = "tiny",
    seed: Annotated[int, typer.Option(help="Weight initialisation seed.")] = 0,
) -> None:
    """Write a Qwen2.5-VL-architecture model with random weights and a locally trained tokenizer."""
    from vlaa.modeling.factory import MODEL_SIZES, make_model

    if size not in MODEL_SIZES:
        fail(f"--size {size!r} is not one of {', '.join(MODEL_SIZES)}")
    guarded(lambda: make_model(directory, size=size, seed=seed))  # type: ignore[arg-type]
    info = json.loads((directory / "vlaa_model.json").read_text())
    console.print(f"wrote {size} model ({info['parameters']:,} parameters) to {directory}")


@app.command("prepare")
def prepare_command(
    base_model: Annotated[
        str,
        typer.Option(
            help="tiny or tiny:SEED, a folder, hf://ORG/NAME or hf://ORG/NAME@REVISION, "
            "s3://BUCKET/PREFIX, registry://NAME@VERSION or registry://NAME@ALIAS "
            "(docs/base-models.md)."
        ),
    ],
    output: Annotated[Path, typer.Option(help="Folder to write the model into (replaced).")],
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry store for registry:// (default: $VLAA_REGISTRY_URI or "
            "the publish default)."
        ),
    ] = None,
) -> None:
    """Resolve a base model into a checked model folder (the prepare step's model, without KFP)."""
    from vlaa.modeling.base_models import resolve_base_model

    resolved = guarded(lambda: resolve_base_model(base_model, output, registry_uri=registry))
    console.print(f"wrote {base_model} to {resolved.path}")
    console.print_json(json.dumps(resolved.lineage))


@app.command("build-dataset")
def build_dataset_command(
    output: Annotated[
        Path, typer.Option(help="Folder for the sft/, rl/, eval/ and card/ outputs.")
    ],
    config: ConfigOption = None,
    rebuild_teacher_cache: Annotated[
        bool,
        typer.Option(
            "--rebuild-teacher-cache",
            help="Move a damaged LLM-teacher cache aside and start a fresh one.",
        ),
    ] = False,
) -> None:
    """Build the dataset splits and data card (the build_dataset step, without KFP)."""
    from vlaa.data.config import BuildDatasetConfig
    from vlaa.data.engine import build_dataset

    def action() -> Any:
        step_config = load_step_config(BuildDatasetConfig, config, "data")
        if rebuild_teacher_cache and step_config.llm_teacher is not None:
            step_config.llm_teacher = {**step_config.llm_teacher, "rebuild_cache": True}
        return build_dataset(
            step_config, output / "sft", output / "rl", output / "eval", output / "card"
        )

    card = guarded(action)
    console.print(f"splits: {card.splits}; card in {output / 'card'}")


def _train(stage: str, init_model: Path, train: Path, output: Path, config: Path | None) -> None:
    from vlaa.training.steps import training_step

    config_class, train_function = training_step(stage)
    summary = guarded(
        lambda: train_function(
            init_model, train, output, load_step_config(config_class, config, stage)
        )
    )
    console.print({k: v for k, v in summary.items() if k != "config"})


@app.command("sft")
def sft_command(
    base_model: Annotated[Path, typer.Option(help="Model folder to start from.")],
    train: Annotated[Path, typer.Option(help="SFT split folder (records.jsonl + images/).")],
    output: Annotated[Path, typer.Option(help="Folder for the fine-tuned model.")],
    config: ConfigOption = None,
) -> None:
    """Supervised fine-tuning (the sft step, without KFP)."""
    _train("sft", base_model, train, output, config)


@app.command("grpo")
def grpo_command(
    init_model: Annotated[Path, typer.Option(help="Model folder to start from (base or SFT).")],
    train: Annotated[Path, typer.Option(help="RL split folder (records.jsonl + images/).")],
    output: Annotated[Path, typer.Option(help="Folder for the trained model.")],
    config: ConfigOption = None,
) -> None:
    """GRPO with the mixed reward (the grpo step, without KFP)."""
    _train("grpo", init_model, train, output, config)


@app.command("evaluate")
def evaluate_command(
    model: Annotated[Path, typer.Option(help="Model folder to evaluate.")],
    eval_split: Annotated[Path, typer.Option(help="Eval split folder.")],
    report: Annotated[Path, typer.Option(help="Where to write the JSON report.")],
    config: ConfigOption = None,
) -> None:
    """Greedy evaluation with accuracy per reward type (the evaluate step, without KFP)."""
    from vlaa.evaluation.config import EvaluateStepConfig
    from vlaa.evaluation.evaluate import evaluate_model
    from vlaa.evaluation.report import write_report

    result = guarded(
        lambda: evaluate_model(
            model, eval_split, load_step_config(EvaluateStepConfig, config, "evaluate")
        )
    )
    write_report(result, report)
    console.print(result.metrics)


@app.command("publish")
def publish_command(
    model: Annotated[Path, typer.Option(help="Model folder to publish.")],
    config: ConfigOption = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Evaluation report JSON whose metrics go in the card.")
    ] = None,
    base_metrics: Annotated[
        Path | None,
        typer.Option(help="The base model's evaluation report JSON (for the gate's margin)."),
    ] = None,
) -> None:
    """Publish a model folder as a new version in the model store (the publish step)."""
    from vlaa.evaluation.report import EvalReport, read_report
    from vlaa.registry.config import PublishConfig
    from vlaa.registry.publish import publish

    def action() -> Any:
        report = read_report(metrics) if metrics else EvalReport()
        base = read_report(base_metrics) if base_metrics else None
        return publish(
            model,
            load_step_config(PublishConfig, config, "publish"),
            report,
            {},
            {},
            {},
            base_metrics=base,
        )

    result = guarded(action)
    console.print(result.model_dump())
