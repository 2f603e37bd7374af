"""GRPO with the mixed reward (TRL's GRPOTrainer), from the base model or the SFT model."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from vlaa.errors import ConfigError
from vlaa.modeling.loading import freeze_vision_tower, load_processor
from vlaa.modeling.vllm import vllm_available, vllm_unavailable_message
from vlaa.reward_models import build_scorer
from vlaa.training.checkpoints import checkpoint_step, load_model_to_train
from vlaa.training.common import (
    JsonlLogCallback,
    checkpoint_args,
    gradient_accumulation,
    main_rank,
    resume_point,
    save_trained,
    train_to_the_end,
    world_size,
)
from vlaa.training.config import GRPOStepConfig
from vlaa.training.curves import plot_curves
from vlaa.training.datasets import grpo_dataset, load_split
from vlaa.training.deepspeed import deepspeed_config
from vlaa.training.fit import DROPS_FILE, fit_samples, prompt_tokens
from vlaa.training.grpo_vllm import processor_view, vllm_args
from vlaa.training.kl_control import AdaptiveKLCallback, AdaptiveKLController, restore_state
from vlaa.training.log import first_last_means, keep_log_until, read_log
from vlaa.training.precision import precision_args, reference_model_args, resolve_precision
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
    precision = resolve_precision(config.precision)
    processor = config.image_budget().apply(load_processor(init_model_dir))
    # Left padding for batched generation of prompts of different lengths.
    processor.tokenizer.padding_side = "left"
    work_dir = work_dir or output_dir.parent / (output_dir.name + "-work")
    resume_from = resume_point(config, work_dir)
    fit = fit_samples(
        processor, train_dir, load_split(train_dir), config.prompt_budget(), prompt_tokens
    ).finish("grpo", "raise grpo.max_prompt_length / vllm_max_model_len or lower grpo.max_pixels")
    if fit.drops and main_rank():
        fit.write(work_dir / DROPS_FILE)
    dataset = grpo_dataset(train_dir).select(fit.kept)
    use_vllm = _use_vllm(config.use_vllm)
    # vLLM loads the processor from the policy's folder: give it one with this image budget.
    model_dir = processor_view(init_model_dir, processor, work_dir) if use_vllm else init_model_dir
    model = load_model_to_train(model_dir, resume_from)  # fp32 master weights
    if config.freeze_vision:
        freeze_vision_tower(model)
    # Beside the checkpoints: a resumed run (in a new pod, too) keeps the steps before it.
    log_path = config.checkpoint_folder(work_dir) / "train_log.jsonl"
    keep_log_until(log_path, checkpoint_step(resume_from) if resume_from else 0)
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
        **vllm_args(config, use_vllm, fit.longest),
        **precision_args(precision),
        model_init_kwargs=reference_model_args(precision),
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
    metrics = train_to_the_end(trainer, resume_from)
    save_trained(trainer, processor, output_dir, log_path)
    if fit.drops and trainer.is_world_process_zero():
        shutil.copyfile(work_dir / DROPS_FILE, output_dir / f"vlaa_{DROPS_FILE}")
    training_log = read_log(log_path)
    curves = plot_curves(training_log, work_dir / "curves.png", title="GRPO")
    summary = {
        "stage": "grpo",
        "steps": trainer.state.global_step,
        "samples": len(dataset),
        "train_seconds": round(metrics.get("train_runtime", 0.0), 2),
        "resumed_from_step": checkpoint_step(resume_from) if resume_from else None,
        "final_beta": getattr(trainer, "beta", config.beta),
        "fit": fit.summary(),
        "precision": precision,
        "vllm_max_model_length": args.vllm_max_model_length if use_vllm else None,
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
