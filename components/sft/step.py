"""SFT on the distilled reasoning traces with TRL's SFTTrainer (vision encoder frozen)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer

from vlaa.modeling.loading import freeze_vision_tower, load_processor, training_dtype
from vlaa.training.checkpoints import (
    checkpoint_step,
    keep_log_until,
    load_model_to_train,
)
from vlaa.training.common import (
    JsonlLogCallback,
    TrainingRunFields,
    gradient_accumulation,
    read_log,
    save_trained,
)
from vlaa.training.datasets import sft_dataset


class SFTStepConfig(TrainingRunFields):
    """Defaults follow the paper: full fine-tuning, vision frozen, global batch 128, one epoch."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(1e-5, gt=0, description="peak LR (not published by the paper)")
    global_batch_size: int = Field(128, gt=0)
    per_device_batch_size: int = Field(4, gt=0)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: epochs)")
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    lr_scheduler_type: str = "cosine"
    weight_decay: float = Field(0.0, ge=0)
    max_length: int | None = Field(4096, gt=0)
    freeze_vision: bool = True
    train_merger: bool = Field(True, description="keep the vision-language projector trainable")
    activation_checkpointing: bool = False


def run_sft(
    base_model_dir: Path,
    train_dir: Path,
    output_dir: Path,
    config: SFTStepConfig,
    work_dir: Path | None = None,
    extra_callbacks: Sequence[TrainerCallback] = (),
) -> dict[str, Any]:
    """Fine-tune ``base_model_dir`` on ``train_dir``; write the model to ``output_dir``.

    A run started again on the same checkpoint folder resumes from its last complete
    checkpoint. ``extra_callbacks`` are added to the trainer (metrics exporters, test probes).

    Returns a summary: steps, first/last loss, seconds, and the path of the JSON-lines log.
    """
    processor = load_processor(base_model_dir)
    work_dir = work_dir or output_dir.parent / (output_dir.name + "-work")
    resume_from = config.resume_point(work_dir)
    model = load_model_to_train(base_model_dir, resume_from)
    if config.freeze_vision:
        freeze_vision_tower(model, train_merger=config.train_merger)
    dataset = sft_dataset(train_dir)
    log_path = work_dir / "train_log.jsonl"
    keep_log_until(log_path, checkpoint_step(resume_from) if resume_from else 0)
    dtype = training_dtype()
    args = SFTConfig(
        **config.checkpoint_args(work_dir),
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation(
            config.global_batch_size, config.per_device_batch_size, "sft: "
        ),
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a share of all steps
        lr_scheduler_type=config.lr_scheduler_type,
        weight_decay=config.weight_decay,
        max_length=config.max_length,
        activation_checkpointing=config.activation_checkpointing,
        completion_only_loss=True,
        bf16=str(dtype) == "torch.bfloat16",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[JsonlLogCallback(log_path), *extra_callbacks],
    )
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    save_trained(trainer, processor, output_dir)
    losses = [row["loss"] for row in read_log(log_path) if "loss" in row]
    summary = {
        "steps": trainer.state.global_step,
        "samples": len(dataset),
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 2),
        "resumed_from_step": checkpoint_step(resume_from) if resume_from else None,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "log": str(log_path),
        "config": config.model_dump(),
    }
    (output_dir / "vlaa_training.json").write_text(json.dumps(summary, indent=2))
    return summary
