"""Runtime side of the sft component (KFP hides ``dsl.component`` at run time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlaa.components.task_io import TaskIO
from vlaa.components.training import train
from vlaa.stages import stage


def run(arguments: Mapping[str, Any]) -> None:
    io = TaskIO(arguments)
    with stage("sft") as report:
        _, summary = train(io, "sft", init_model="base_model", arm="sft")
        io.artifact("model").metadata.update({"stage": "sft", "steps": summary["steps"]})
        report.metrics.update({k: summary[k] for k in ("steps", "first_loss", "last_loss")})
        report.artifacts.update(model=str(io.path("model")), job_spec=str(io.path("job_spec")))
