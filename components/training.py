"""What the sft and grpo components share: train in the pod or launch wider, record what ran.

One process trains in the step's pod; several GPUs or nodes go through ``vlaa.launch``
(torchrun in the pod, or a TrainJob / PyTorchJob). Either way ``job_spec`` records what ran.
On the cluster, checkpoints go to the checkpoint volume (``VLAA_CHECKPOINT_ROOT``) so a retried
step resumes; locally (no such variable) they stay in the work folder beside the output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from vlaa.cluster import CHECKPOINT_ENV
from vlaa.components.task_io import TaskIO
from vlaa.launch.distributed import (
    check_batch_split,
    in_pod_record,
    run_distributed,
    write_job_record,
)
from vlaa.observability.callback import metrics_callbacks
from vlaa.registry.lineage import BASE_MODEL_METADATA
from vlaa.training.checkpoints import checkpoint_step
from vlaa.training.config import GRPOStepConfig, SFTStepConfig
from vlaa.training.steps import training_step

log = logging.getLogger(__name__)

# The batch each optimizer step consumes, which must split evenly over all processes.
OPTIMIZER_BATCH_FIELD = {"sft": "global_batch_size", "grpo": "train_batch_completions"}


def train(io: TaskIO, stage: str, init_model: str, arm: str) -> tuple[Any, dict[str, Any]]:
    """Validate the step's config, train from artifact ``init_model``; (config, summary)."""
    config_class, train_function = training_step(stage)
    config: SFTStepConfig | GRPOStepConfig = config_class.model_validate(io.param("config", {}))
    run_id = io.param("run_id", "")
    durable = durable_checkpoint_dir(io, stage, init_model, arm, config)
    if durable is not None:
        config = config.model_copy(update={"checkpoint_dir": str(durable)})
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
    if durable is not None:  # the model is in the output artifact now; free the volume
        for folder in durable.iterdir():
            if folder.is_dir() and checkpoint_step(folder) is not None:
                shutil.rmtree(folder, ignore_errors=True)
    return config, summary


def durable_checkpoint_dir(
    io: TaskIO, stage: str, init_model: str, arm: str, config: SFTStepConfig | GRPOStepConfig
) -> Path | None:
    """This step's folder on the checkpoint volume, or None: a ``checkpoint_dir`` of the
    config wins, multi-node workers cannot reach the volume, and local runs have none.

    The folder is named after the run and keyed by what decides the training (its inputs'
    URIs, unique per producing task, and its config), so a retry of the same task finds its
    checkpoints and no other run or arm resumes from them."""
    root = os.environ.get(CHECKPOINT_ENV)
    if not root or config.checkpoint_dir or config.distributed.needs_job():
        return None
    if not Path(root).is_dir():
        log.warning("%s=%s is not mounted; checkpoints stay in the pod", CHECKPOINT_ENV, root)
        return None
    run_id = io.param("run_id", "")
    inputs = [getattr(io.artifact(name), "uri", "") for name in (init_model, "train_split")]
    key = json.dumps([stage, arm, run_id, inputs, config.model_dump(mode="json")], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-.")[:60] or "run"
    folder = Path(root) / f"{slug}-{stage}-{arm}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
