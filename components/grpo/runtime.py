"""Runtime side of the grpo component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

# Last logged value of each of these lands in the KFP Metrics artifact (the UI's scalar view);
# the whole curve is in Prometheus and in the HTML artifact.
FINAL_LOG_KEYS = (
    "reward",
    "reward_std",
    "kl",
    "beta",
    "loss",
    "entropy",
    "completions/mean_length",
    "completions/clipped_ratio",
    "grad_norm",
    "learning_rate",
)


def run_from_kfp(
    init_model: Input[Model],
    train_split: Input[Dataset],
    config: dict,
    run_id: str,
    arm: str,
    model: Output[Model],
    metrics: Output[Metrics],
    curves: Output[HTML],
    job_spec: Output[Artifact],
) -> None:
    from pathlib import Path

    from vlaa.components.grpo.step import GRPOStepConfig, run_grpo
    from vlaa.observability import metrics_callbacks
    from vlaa.stages import stage
    from vlaa.training.common import read_log
    from vlaa.training.curves import curves_html, per_type_reward_keys
    from vlaa.training.distributed import (
        check_batch_split,
        in_pod_record,
        run_distributed,
        write_job_record,
    )

    step_config = GRPOStepConfig.model_validate(config)
    with stage(f"grpo-from-{arm}") as report:
        if step_config.distributed.is_single_process():
            summary = run_grpo(
                Path(init_model.path),
                Path(train_split.path),
                Path(model.path),
                step_config,
                extra_callbacks=metrics_callbacks(
                    "grpo", run_id, arm, step_config.metrics_settings()
                ),
            )
            record, outcome = in_pod_record(step_config.distributed), {"mode": "in-pod"}
        else:
            check_batch_split(
                "grpo",
                step_config.train_batch_completions,
                step_config.per_device_batch_size,
                step_config.distributed,
            )
            run = run_distributed("grpo", step_config, init_model, train_split, model, run_id, arm)
            summary, record, outcome = run.summary, run.record, run.outcome
        write_job_record(Path(job_spec.path), record)
        job_spec.metadata.update(outcome)
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
        log = read_log(Path(summary["log"]))
        for key in (*FINAL_LOG_KEYS, *per_type_reward_keys(log)):
            values = [row[key] for row in log if isinstance(row.get(key), int | float)]
            if values:
                metrics.log_metric(f"final/{key}", values[-1])
        page = curves_html(
            Path(summary["curves"]),
            f"GRPO ({arm}) reward, KL and response length",
            {k: summary[k] for k in ("steps", "reward_first", "reward_last", "final_beta")},
        )
        Path(curves.path).write_text(page, encoding="utf-8")
        report.artifacts["model"] = model.path
        report.artifacts["curves"] = curves.path
        report.artifacts["job_spec"] = job_spec.path
