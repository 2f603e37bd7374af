"""Runtime side of the sft component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import Dataset, Input, Model, Output


def run_from_kfp(
    base_model: Input[Model], train_split: Input[Dataset], config: dict, model: Output[Model]
) -> None:
    from pathlib import Path

    from vlaa.components.sft.step import SFTStepConfig, run_sft
    from vlaa.stages import stage

    with stage("sft") as report:
        summary = run_sft(
            Path(base_model.path),
            Path(train_split.path),
            Path(model.path),
            SFTStepConfig.model_validate(config),
        )
        model.metadata.update({"stage": "sft", "steps": summary["steps"]})
        report.metrics.update({k: summary[k] for k in ("steps", "first_loss", "last_loss")})
        report.artifacts["model"] = model.path
