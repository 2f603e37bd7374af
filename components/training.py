"""What the sft and grpo components share: train in the pod or launch wider, record what ran.

One process trains in the step's pod; several GPUs or nodes go through ``vlaa.launch``
(torchrun in the pod, or a TrainJob / PyTorchJob). Either way ``job_spec`` records what ran.
"""

from __future__ import annotations

from typing import Any

from vlaa.components.task_io import TaskIO
from vlaa.launch.distributed import (
    check_batch_split,
    in_pod_record,
    run_distributed,
    write_job_record,
)
from vlaa.observability.callback import metrics_callbacks
from vlaa.registry.lineage import BASE_MODEL_METADATA
from vlaa.training.config import GRPOStepConfig, SFTStepConfig
from vlaa.training.steps import training_step

# The batch each optimizer step consumes, which must split evenly over all processes.
OPTIMIZER_BATCH_FIELD = {"sft": "global_batch_size", "grpo": "train_batch_completions"}


def train(io: TaskIO, stage: str, init_model: str, arm: str) -> tuple[Any, dict[str, Any]]:
    """Validate the step's config, train from artifact ``init_model``; (config, summary)."""
    config_class, train_function = training_step(stage)
    config: SFTStepConfig | GRPOStepConfig = config_class.model_validate(io.param("config", {}))
    run_id = io.param("run_id", "")
    if config.distributed.is_single_process():
        summary = train_function(
            io.path(init_model),
            io.path("train_split"),
            io.path("model"),
            config,
            extra_callbacks=metrics_callbacks(stage, run_id, arm, config.metrics_settings()),
        )
        record, outcome = in_pod_record(config.distributed), {"mode": "in-pod"}
    else:
        batch = getattr(config, OPTIMIZER_BATCH_FIELD[stage])
        check_batch_split(stage, batch, config.per_device_batch_size, config.distributed)
        run = run_distributed(
            stage,
            config,
            io.artifact(init_model),
            io.artifact("train_split"),
            io.artifact("model"),
            run_id,
            arm,
        )
        summary, record, outcome = run.summary, run.record, run.outcome
    write_job_record(io.path("job_spec"), record)
    io.artifact("job_spec").metadata.update(outcome)
    base_lineage = io.artifact(init_model).metadata.get(BASE_MODEL_METADATA)
    if base_lineage:  # the base model's lineage rides on every model trained from it
        io.artifact("model").metadata[BASE_MODEL_METADATA] = base_lineage
    return config, summary
