"""Runtime side of the grpo component (KFP hides ``dsl.component`` at run time)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlaa.components.task_io import TaskIO
from vlaa.components.training import train
from vlaa.stages import stage
from vlaa.training.curves import curves_html, per_type_reward_keys
from vlaa.training.log import read_log

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


def run(arguments: Mapping[str, Any]) -> None:
    io = TaskIO(arguments)
    arm = io.param("arm")
    with stage(f"grpo-from-{arm}") as report:
        _, summary = train(io, "grpo", init_model="init_model", arm=arm)
        init_stage = io.artifact("init_model").metadata.get("stage", "base")
        io.artifact("model").metadata.update(
            {"stage": "grpo", "steps": summary["steps"], "init": init_stage}
        )
        metrics = io.artifact("metrics")
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
        io.output_file("curves", ".html").write_text(page, encoding="utf-8")
        report.artifacts.update(
            model=str(io.path("model")),
            curves=str(io.path("curves")),
            job_spec=str(io.path("job_spec")),
        )
