"""GRPO with the mixed reward (TRL's GRPOTrainer), from the base model or the SFT model."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from trl import GRPOConfig, GRPOTrainer

from vlaa.modeling.loading import freeze_vision_tower, load_model, load_processor, training_dtype
from vlaa.records import REWARD_TYPES
from vlaa.training.common import (
    ConfigError,
    JsonlLogCallback,
    common_training_args,
    gradient_accumulation,
    read_log,
    save_trained,
    world_size,
)
from vlaa.training.datasets import grpo_dataset
from vlaa.training.reward_router import RewardRouter


class GRPOStepConfig(BaseModel):
    """Defaults follow PAPER.md: group 4, T=0.8, rollout 512 prompts, train batch 256, KL 1e-3."""

    model_config = ConfigDict(extra="forbid")

    num_generations: int = Field(4, ge=2, description="group size")
    temperature: float = Field(0.8, gt=0)
    rollout_batch_prompts: int = Field(512, gt=0, description="prompts per rollout")
    train_batch_completions: int = Field(256, gt=0, description="completions per optimizer step")
    per_device_batch_size: int = Field(8, gt=0, description="completions per device micro-step")
    learning_rate: float = Field(1e-6, gt=0, description="peak LR (not published by the paper)")
    min_learning_rate: float = Field(8e-7, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    beta: float = Field(1e-3, ge=0, description="KL coefficient")
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: epochs)")
    max_prompt_length: int | None = None
    max_completion_length: int = Field(1024, gt=0)
    reward_types: list[Literal["digit", "mcq", "math", "iou", "open"]] = Field(
        default_factory=lambda: list(REWARD_TYPES),
        description="verifiers in use; samples of other types are not scored",
    )
    loss_type: str = "grpo"
    freeze_vision: bool = True
    use_vllm: Literal["auto", "yes", "no"] = Field(
        "auto", description="vLLM colocate rollouts: auto = when a GPU and vllm are present"
    )
    logging_steps: int = Field(1, gt=0)
    seed: int = 42


def _use_vllm(setting: str) -> bool:
    if setting == "no":
        return False
    available = torch.cuda.is_available()
    try:
        import vllm  # noqa: F401
    except ImportError:
        available = False
    if setting == "yes" and not available:
        raise ConfigError("grpo: use_vllm=yes needs a GPU and the vllm package")
    return available


def trl_batch_args(config: GRPOStepConfig) -> dict[str, int]:
    """Translate the paper's rollout / train batch sizes into TRL's batch arguments."""
    completions_per_rollout = config.rollout_batch_prompts * config.num_generations
    if completions_per_rollout % config.train_batch_completions:
        raise ConfigError(
            f"grpo: rollout of {completions_per_rollout} completions is not a multiple of the "
            f"train batch {config.train_batch_completions}"
        )
    accumulation = gradient_accumulation(
        config.train_batch_completions, config.per_device_batch_size, "grpo: "
    )
    micro_steps = completions_per_rollout // (config.per_device_batch_size * world_size())
    return {
        "per_device_train_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": accumulation,
        "steps_per_generation": micro_steps,
    }


def run_grpo(
    init_model_dir: Path,
    train_dir: Path,
    output_dir: Path,
    config: GRPOStepConfig,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Train ``init_model_dir`` with GRPO on the RL split; write the model to ``output_dir``.

    Returns a summary with the mean reward over the first and last logged steps.
    """
    processor = load_processor(init_model_dir)
    # Left padding for batched generation of prompts of different lengths.
    processor.tokenizer.padding_side = "left"
    model = load_model(init_model_dir)
    if config.freeze_vision:
        freeze_vision_tower(model)
    dataset = grpo_dataset(train_dir)
    work_dir = work_dir or output_dir.parent / (output_dir.name + "-work")
    log_path = work_dir / "train_log.jsonl"
    log_path.unlink(missing_ok=True)
    use_vllm = _use_vllm(config.use_vllm)
    args = GRPOConfig(
        **common_training_args(work_dir, config.seed, config.logging_steps),
        **trl_batch_args(config),
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr": config.min_learning_rate},
        warmup_steps=config.warmup_ratio,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        num_generations=config.num_generations,
        temperature=config.temperature,
        max_completion_length=config.max_completion_length,
        beta=config.beta,
        loss_type=config.loss_type,
        use_vllm=use_vllm,
        vllm_mode="colocate",
        bf16=training_dtype() == torch.bfloat16,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[RewardRouter(enabled_types=tuple(config.reward_types))],
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[JsonlLogCallback(log_path)],
    )
    result = trainer.train()
    save_trained(trainer, processor, output_dir)
    summary = {
        "steps": trainer.state.global_step,
        "samples": len(dataset),
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 2),
        **reward_summary(read_log(log_path)),
        "log": str(log_path),
        "config": config.model_dump(),
    }
    (output_dir / "vlaa_training.json").write_text(json.dumps(summary, indent=2))
    return summary


def reward_summary(log: list[dict[str, Any]], window: int = 5) -> dict[str, float | None]:
    """Mean reward over the first and the last ``window`` logged steps."""
    rewards = [row["reward"] for row in log if "reward" in row]
    if not rewards:
        return {"reward_first": None, "reward_last": None}
    window = max(1, min(window, len(rewards) // 2 or 1))
    return {
        "reward_first": round(fmean(rewards[:window]), 4),
        "reward_last": round(fmean(rewards[-window:]), 4),
    }
