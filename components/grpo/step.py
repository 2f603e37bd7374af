"""GRPO with the mixed reward (TRL's GRPOTrainer), from the base model or the SFT model."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import ConfigDict, Field
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from vlaa.modeling.loading import freeze_vision_tower, load_processor, training_dtype
from vlaa.records import REWARD_TYPES
from vlaa.reward_models import build_scorer
from vlaa.training.checkpoints import (
    checkpoint_step,
    load_model_to_train,
)
from vlaa.training.common import (
    ConfigError,
    JsonlLogCallback,
    TrainingRunFields,
    first_last_means,
    gradient_accumulation,
    keep_log_until,
    read_log,
    save_trained,
    world_size,
)
from vlaa.training.curves import plot_curves
from vlaa.training.datasets import grpo_dataset
from vlaa.training.deepspeed import deepspeed_config
from vlaa.training.kl_control import AdaptiveKLCallback, AdaptiveKLController, restore_state
from vlaa.training.reward_router import RewardRouter

log = logging.getLogger(__name__)


class GRPOStepConfig(TrainingRunFields):
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
    beta: float = Field(1e-3, ge=0, description="initial KL coefficient (0: no KL, no ref model)")
    kl_target: float | None = Field(
        5e-4, gt=0, description="target KL of the adaptive controller (None: fixed beta)"
    )
    kl_horizon: int = Field(10_000, gt=0, description="adaptive KL horizon, in completions")
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: epochs)")
    max_prompt_length: int | None = None
    max_completion_length: int = Field(1024, gt=0)
    reward_types: list[Literal["digit", "mcq", "math", "iou", "open"]] = Field(
        default_factory=lambda: list(REWARD_TYPES),
        description="verifiers in use; samples of other types are not scored",
    )
    open_reward_model: str | None = Field(
        None,
        description="reward model for 'open' samples: a local sequence-classification model "
        "folder or an http(s) scorer URL; unset: open samples are not scored",
    )
    open_reward_beta: float = Field(1.0, gt=0, description="smoothing beta of the open reward")
    loss_type: str = "grpo"
    freeze_vision: bool = True
    use_vllm: Literal["auto", "yes", "no"] = Field(
        "auto", description="vLLM colocate rollouts: auto = when a GPU and vllm are present"
    )
    deepspeed: Literal["none", "zero2", "zero3"] = Field(
        "none", description="DeepSpeed ZeRO stage for multi-GPU runs (needs the deepspeed package)"
    )
    save_steps: int = Field(10, gt=0, description="checkpoint every N optimizer steps")


def _use_vllm(setting: str) -> bool:
    from vlaa.modeling.vllm import vllm_available, vllm_unavailable_message

    if setting == "no":
        return False
    available = vllm_available()
    if setting == "yes" and not available:
        raise ConfigError(vllm_unavailable_message("grpo.use_vllm is 'yes'", "use 'auto' or 'no'"))
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
    extra_callbacks: Sequence[TrainerCallback] = (),
) -> dict[str, Any]:
    """Train ``init_model_dir`` with GRPO on the RL split; write the model to ``output_dir``.

    ``extra_callbacks`` are added to the trainer (metrics exporters, test probes).

    Returns a summary with the mean reward over the first and last logged steps.
    """
    processor = load_processor(init_model_dir)
    # Left padding for batched generation of prompts of different lengths.
    processor.tokenizer.padding_side = "left"
    work_dir = work_dir or output_dir.parent / (output_dir.name + "-work")
    resume_from = config.resume_point(work_dir)
    model = load_model_to_train(init_model_dir, resume_from)
    if config.freeze_vision:
        freeze_vision_tower(model)
    dataset = grpo_dataset(train_dir)
    log_path = work_dir / "train_log.jsonl"
    keep_log_until(log_path, checkpoint_step(resume_from) if resume_from else 0)
    use_vllm = _use_vllm(config.use_vllm)
    batch_args = trl_batch_args(config)
    args = GRPOConfig(
        **config.checkpoint_args(work_dir),
        **batch_args,
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
        deepspeed=deepspeed_config(config.deepspeed),
    )
    kl_callback = _kl_callback(config)
    callbacks: list[TrainerCallback] = [JsonlLogCallback(log_path)]
    if kl_callback is not None:
        # Before the log writer, so the updated coefficient lands in the same log row.
        callbacks.insert(0, kl_callback)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[_reward_router(config, dataset)],
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[*callbacks, *extra_callbacks],
    )
    if kl_callback is not None:
        kl_callback.attach(trainer)
        if resume_from is not None and not restore_state(kl_callback, resume_from):
            log.warning("%s has no KL controller state; the KL coefficient restarts", resume_from)
    if resume_from is not None:
        log.warning("resuming GRPO from %s", resume_from)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    save_trained(trainer, processor, output_dir, log_path)
    training_log = read_log(log_path)
    curves = plot_curves(training_log, work_dir / "curves.png", title="GRPO")
    summary = {
        "steps": trainer.state.global_step,
        "samples": len(dataset),
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 2),
        "resumed_from_step": checkpoint_step(resume_from) if resume_from else None,
        "final_beta": getattr(trainer, "beta", config.beta),
        **reward_summary(training_log),
        "log": str(log_path),
        "curves": str(curves),
        "config": config.model_dump(),
    }
    (output_dir / "vlaa_training.json").write_text(json.dumps(summary, indent=2))
    return summary


def _reward_router(config: GRPOStepConfig, dataset: Any) -> RewardRouter:
    scorer = build_scorer(config.open_reward_model)
    if scorer is None and "open" in config.reward_types and "open" in set(dataset["reward_type"]):
        log.warning("the RL split has 'open' samples but no open_reward_model: they get no reward")
    return RewardRouter(
        enabled_types=tuple(config.reward_types), scorer=scorer, open_beta=config.open_reward_beta
    )


def _kl_callback(config: GRPOStepConfig) -> AdaptiveKLCallback | None:
    if config.kl_target is None or config.beta == 0:
        return None
    controller = AdaptiveKLController(config.beta, config.kl_target, config.kl_horizon)
    return AdaptiveKLCallback(controller, samples_per_step=config.train_batch_completions)


def reward_summary(log: list[dict[str, Any]], window: int = 5) -> dict[str, float | None]:
    """Mean reward over the first and the last ``window`` logged steps."""
    first, last = first_last_means(log, "reward", window)
    return {"reward_first": first, "reward_last": last}
