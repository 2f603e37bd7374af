"""Runtime side of the sft component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import Dataset, Input, Model, Output


def run_from_kfp(
    base_model: Input[Model],
    train_split: Input[Dataset],
    config: dict,
    run_id: str,
    model: Output[Model],
) -> None:
    from pathlib import Path

    from vlaa.components.sft.step import SFTStepConfig, run_sft
    from vlaa.observability import metrics_callbacks
    from vlaa.stages import stage

    step_config = SFTStepConfig.model_validate(config)
    with stage("sft") as report:
        summary = run_sft(
            Path(base_model.path),
            Path(train_split.path),
            Path(model.path),
            step_config,
            extra_callbacks=metrics_callbacks("sft", run_id, "sft", step_config.metrics_settings()),
        )
        model.metadata.update({"stage": "sft", "steps": summary["steps"]})
        report.metrics.update({k: summary[k] for k in ("steps", "first_loss", "last_loss")})
        report.artifacts["model"] = model.path
