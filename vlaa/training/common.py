"""Pieces the SFT and GRPO steps share: batch arithmetic, logging to JSON lines, run context."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from transformers import (
    ProcessorMixin,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from vlaa.errors import ConfigError
from vlaa.training.checkpoints import (
    COMPLETE_MARKER,
    finished_at,
    last_complete_checkpoint,
)
from vlaa.training.config import TrainingRunFields
from vlaa.training.log import TRAIN_LOG_IN_MODEL

log = logging.getLogger(__name__)


def resume_point(config: TrainingRunFields, work_dir: Path) -> Path | None:
    """The checkpoint to continue from, when resuming is on and one is complete."""
    folder = config.checkpoint_folder(work_dir)
    return last_complete_checkpoint(folder) if config.resume else None


def checkpoint_args(config: TrainingRunFields, work_dir: Path) -> dict[str, Any]:
    """Trainer arguments: the common ones, with step checkpoints in the checkpoint folder."""
    folder = config.checkpoint_folder(work_dir)
    return {
        **common_training_args(folder, config.seed, config.logging_steps),
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
    }


def train_to_the_end(trainer: Trainer, resume_from: Path | None) -> dict[str, float]:
    """``trainer.train()`` from ``resume_from``; its metrics. Nothing is trained when the
    checkpoint already holds the run's last step: transformers 5.23's loop
    (``Trainer._run_epoch``) checks ``max_steps`` only after a step, so resuming from the final
    checkpoint would train one step past it. The weights are the checkpoint's then
    (``load_model_to_train``; a LoRA adapter is loaded here)."""
    if resume_from is None or not finished_at(resume_from, trainer.args.max_steps):
        resume = str(resume_from) if resume_from else None
        return dict(trainer.train(resume_from_checkpoint=resume).metrics)
    log.warning("%s holds the run's last step: nothing left to train", resume_from)
    trainer.state = TrainerState.load_from_json(str(resume_from / COMPLETE_MARKER))
    peft = sys.modules.get("peft")  # a LoRA run imported it; its checkpoint is the adapter
    if peft is not None and isinstance(trainer.model, peft.PeftModel):
        trainer.model.load_adapter(str(resume_from), trainer.model.active_adapter)
    return {"train_runtime": 0.0}


def save_weights(trainer: Trainer, folder: Path) -> None:
    """``trainer.save_model``, also when this process never trained (a finished checkpoint):
    under DeepSpeed the Trainer gathers weights from its engine, which ``train()`` creates."""
    if trainer.is_deepspeed_enabled and trainer.deepspeed is None:
        if trainer.accelerator.is_main_process:
            trainer.model.save_pretrained(folder)
        return
    trainer.save_model(str(folder))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def main_rank() -> bool:
    """The first process of the run (before the Trainer's accelerator exists)."""
    return int(os.environ.get("RANK", "0")) == 0


def gradient_accumulation(global_batch: int, per_device_batch: int, label: str = "") -> int:
    """Steps of accumulation that turn per-device batches into the global batch on any GPU count."""
    per_step = per_device_batch * world_size()
    if global_batch % per_step:
        raise ConfigError(
            f"{label}global batch {global_batch} is not a multiple of per-device batch "
            f"{per_device_batch} x {world_size()} processes"
        )
    return global_batch // per_step


class JsonlLogCallback(TrainerCallback):
    """Appends every trainer log (loss, reward, KL, lr, ...) with the step and wall time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._started = time.monotonic()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step, "seconds": round(time.monotonic() - self._started, 3)}
        row.update({k: v for k, v in logs.items() if isinstance(v, int | float | str)})
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


def save_trained(
    trainer: Trainer, processor: ProcessorMixin, output_dir: Path, log_path: Path | None = None
) -> None:
    """Replace ``output_dir`` with the trained weights, the processor and the training log.

    Under several processes (torchrun, DeepSpeed) only the main one clears and writes files;
    every rank still calls ``save_model``, which gathers ZeRO-3 shards collectively.
    """
    accelerator = trainer.accelerator
    if accelerator.is_main_process and output_dir.exists():
        shutil.rmtree(output_dir)
    accelerator.wait_for_everyone()  # nobody writes into the folder while it is removed
    save_weights(trainer, output_dir)
    if accelerator.is_main_process:
        processor.save_pretrained(output_dir)
        if log_path is not None and log_path.is_file():
            shutil.copyfile(log_path, output_dir / TRAIN_LOG_IN_MODEL)
    accelerator.wait_for_everyone()
    output_dir.mkdir(parents=True, exist_ok=True)  # callers add their summary file on every rank


def common_training_args(output_dir: Path, seed: int, logging_steps: int) -> dict[str, Any]:
    """Settings every step uses: no external reporters, no hub, quiet CPU-friendly loaders."""
    return {
        "output_dir": str(output_dir),
        "seed": seed,
        "logging_steps": logging_steps,
        "report_to": [],
        "push_to_hub": False,
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
        "save_strategy": "no",
        "remove_unused_columns": False,
    }
