"""Runtime side of the sft component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def run_from_kfp(
    base_model: Input[Model],
    train_split: Input[Dataset],
    config: dict,
    run_id: str,
    model: Output[Model],
    job_spec: Output[Artifact],
) -> None:
    from pathlib import Path

    from vlaa.components.sft.step import SFTStepConfig, run_sft
    from vlaa.observability import metrics_callbacks
    from vlaa.stages import stage
    from vlaa.training.distributed import (
        check_batch_split,
        in_pod_record,
        run_distributed,
        write_job_record,
    )

    step_config = SFTStepConfig.model_validate(config)
    with stage("sft") as report:
        if step_config.distributed.is_single_process():
            summary = run_sft(
                Path(base_model.path),
                Path(train_split.path),
                Path(model.path),
                step_config,
                extra_callbacks=metrics_callbacks(
                    "sft", run_id, "sft", step_config.metrics_settings()
                ),
            )
            record, outcome = in_pod_record(step_config.distributed), {"mode": "in-pod"}
        else:
            check_batch_split(
                "sft",
                step_config.global_batch_size,
                step_config.per_device_batch_size,
                step_config.distributed,
            )
            run = run_distributed("sft", step_config, base_model, train_split, model, run_id, "sft")
            summary, record, outcome = run.summary, run.record, run.outcome
        write_job_record(Path(job_spec.path), record)
        job_spec.metadata.update(outcome)
        model.metadata.update({"stage": "sft", "steps": summary["steps"]})
        report.metrics.update({k: summary[k] for k in ("steps", "first_loss", "last_loss")})
        report.artifacts["model"] = model.path
        report.artifacts["job_spec"] = job_spec.path
