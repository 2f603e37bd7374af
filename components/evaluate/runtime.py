"""Runtime side of the evaluate component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def run_from_kfp(
    model: Input[Model],
    eval_split: Input[Dataset],
    config: dict,
    label: str,
    metrics: Output[Metrics],
    report: Output[Artifact],
) -> None:
    from pathlib import Path

    from vlaa.components.evaluate.step import EvaluateStepConfig, evaluate_model, write_report
    from vlaa.stages import stage

    with stage(f"evaluate-{label}") as recorder:
        result = evaluate_model(
            Path(model.path), Path(eval_split.path), EvaluateStepConfig.model_validate(config)
        )
        result["label"] = label
        write_report(result, Path(report.path))
        for key, value in result["metrics"].items():
            metrics.log_metric(key, value)
        recorder.metrics.update(result["metrics"])
        recorder.artifacts["report"] = report.path
