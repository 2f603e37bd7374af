"""Runtime side of the grpo component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import Dataset, Input, Metrics, Model, Output


def run_from_kfp(
    init_model: Input[Model],
    train_split: Input[Dataset],
    config: dict,
    model: Output[Model],
    metrics: Output[Metrics],
) -> None:
    from pathlib import Path

    from vlaa.components.grpo.step import GRPOStepConfig, run_grpo
    from vlaa.stages import stage

    with stage("grpo") as report:
        summary = run_grpo(
            Path(init_model.path),
            Path(train_split.path),
            Path(model.path),
            GRPOStepConfig.model_validate(config),
        )
        model.metadata.update(
            {
                "stage": "grpo",
                "steps": summary["steps"],
                "init": init_model.metadata.get("stage", "base"),
            }
        )
        for key in ("steps", "reward_first", "reward_last"):
            if summary[key] is not None:
                metrics.log_metric(key, summary[key])
                report.metrics[key] = summary[key]
        report.artifacts["model"] = model.path
