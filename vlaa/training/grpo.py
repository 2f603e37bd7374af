"""GRPO with the mixed reward (TRL's GRPOTrainer), from the base model or the SFT model."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from vlaa.errors import ConfigError
from vlaa.modeling.loading import freeze_vision_tower, load_processor, training_dtype
from vlaa.modeling.vllm import vllm_available, vllm_unavailable_message
from vlaa.reward_models import build_scorer
from vlaa.training.checkpoints import checkpoint_step, load_model_to_train
from vlaa.training.common import (
    JsonlLogCallback,
    checkpoint_args,
    gradient_accumulation,
    resume_point,
    save_trained,
    world_size,
)
from vlaa.training.config import GRPOStepConfig
from vlaa.training.curves import plot_curves
from vlaa.training.datasets import grpo_dataset
from vlaa.training.deepspeed import deepspeed_config
from vlaa.training.kl_control import AdaptiveKLCallback, AdaptiveKLController, restore_state
from vlaa.training.log import first_last_means, keep_log_until, read_log
from vlaa.training.reward_router import RewardFunc, RewardRouter

log = logging.getLogger(__name__)


def _use_vllm(setting: str) -> bool:
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
    resume_from = resume_point(config, work_dir)
    model = load_model_to_train(init_model_dir, resume_from)
    if config.freeze_vision:
        freeze_vision_tower(model)
    dataset = grpo_dataset(train_dir)
    log_path = work_dir / "train_log.jsonl"
    keep_log_until(log_path, checkpoint_step(resume_from) if resume_from else 0)
    use_vllm = _use_vllm(config.use_vllm)
    batch_args = trl_batch_args(config)
    settings: dict[str, Any] = dict(
        **checkpoint_args(config, work_dir),
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
    # trainer_args last: TRL fields the paper does not name (validated in the config).
    args = GRPOConfig(**{**settings, **config.trainer_args})
    kl_callback = _kl_callback(config)
    callbacks: list[TrainerCallback] = [JsonlLogCallback(log_path)]
    if kl_callback is not None:
        # Before the log writer, so the updated coefficient lands in the same log row.
        callbacks.insert(0, kl_callback)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=_reward_funcs(config, dataset),
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
        "stage": "grpo",
        "steps": trainer.state.global_step,
        "samples": len(dataset),
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 2),
        "resumed_from_step": checkpoint_step(resume_from) if resume_from else None,
        "final_beta": getattr(trainer, "beta", config.beta),
        **reward_summary(training_log),
        "log": str(log_path),
        "curves": str(curves),
        "config": config.model_dump(),
        # The SFT model's own record, so the published card shows both stages' settings.
        "init_training": _recorded_training(init_model_dir),
    }
    (output_dir / "vlaa_training.json").write_text(json.dumps(summary, indent=2))
    return summary


def _recorded_training(model_dir: Path) -> dict[str, Any] | None:
    """The ``vlaa_training.json`` a trained model folder holds (None for a base model)."""
    record = model_dir / "vlaa_training.json"
    return json.loads(record.read_text()) if record.is_file() else None


def _reward_funcs(config: GRPOStepConfig, dataset: Any) -> list[RewardFunc]:
    """One reward function per verifier in use; TRL logs ``rewards/<type>/mean`` and ``/std``."""
    scorer = build_scorer(config.open_reward_model)
    present = set(dataset["reward_type"])
    if scorer is None and "open" in config.reward_types and "open" in present:
        log.warning("the RL split has 'open' samples but no open_reward_model: they get no reward")
    router = RewardRouter(
        enabled_types=tuple(config.reward_types), scorer=scorer, open_beta=config.open_reward_beta
    )
    return router.reward_funcs(present)


def _kl_callback(config: GRPOStepConfig) -> AdaptiveKLCallback | None:
    if config.kl_target is None or config.beta == 0:
        return None
    controller = AdaptiveKLController(config.beta, config.kl_target, config.kl_horizon)
    return AdaptiveKLCallback(controller, samples_per_step=config.train_batch_completions)


def reward_summary(log: list[dict[str, Any]], window: int = 5) -> dict[str, float | None]:
    """Mean reward over the first and the last ``window`` logged steps."""
    first, last = first_last_means(log, "reward", window)
    return {"reward_first": first, "reward_last": last}
