"""SFT on the distilled reasoning traces with TRL's SFTTrainer (vision encoder frozen).

Full fine-tuning by default, LoRA on the LLM's projections as an option (merged into the saved
model), DeepSpeed ZeRO-2/3 for multi-GPU runs, and the paper's training subsets (highest
perplexity, aha, random) chosen before training by ``vlaa.training.subsets``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import PreTrainedModel, ProcessorMixin, Trainer, TrainerCallback, set_seed
from trl import SFTConfig, SFTTrainer

from vlaa.errors import ConfigError
from vlaa.modeling.base_models import local_model
from vlaa.modeling.loading import freeze_vision_tower, load_model, load_processor, training_dtype
from vlaa.training.checkpoints import checkpoint_step, load_model_to_train
from vlaa.training.common import (
    JsonlLogCallback,
    checkpoint_args,
    gradient_accumulation,
    main_rank,
    resume_point,
    save_trained,
    save_weights,
    train_to_the_end,
)
from vlaa.training.config import LORA_ADAPTER_DIR, LoRAConfig, SFTStepConfig
from vlaa.training.datasets import load_split, sft_dataset
from vlaa.training.deepspeed import deepspeed_config
from vlaa.training.fit import DROPS_FILE, fit_samples, sft_tokens
from vlaa.training.log import TRAIN_LOG_IN_MODEL, keep_log_until, read_log
from vlaa.training.precision import precision_args, resolve_precision
from vlaa.training.subsets import SELECTION_FILE, SubsetSelection, select_subset
from vlaa.training.trainer_args import activation_checkpointing_field

if TYPE_CHECKING:
    from peft import PeftModel


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
    deepspeed = deepspeed_config(config.deepspeed)  # fails before any work without DeepSpeed
    precision = resolve_precision(config.precision)
    processor = config.image_budget().apply(load_processor(base_model_dir))
    work_dir = work_dir or output_dir.parent / (output_dir.name + "-work")
    resume_from = resume_point(config, work_dir)
    dataset = sft_dataset(train_dir)
    selection = choose_subset(base_model_dir, train_dir, work_dir, config)
    # sft_dataset keeps the split's record order, which selection and fit positions refer to.
    fit = fit_samples(
        processor,
        train_dir,
        load_split(train_dir),
        config.max_length,
        sft_tokens,
        positions=selection.indices if selection is not None else None,
    ).finish("sft", "raise sft.max_length or lower sft.max_pixels")
    if fit.drops and main_rank():
        fit.write(work_dir / DROPS_FILE)
    dataset = dataset.select(fit.kept)
    if config.lora is None:
        model = load_model_to_train(base_model_dir, resume_from)  # fp32 master weights
        if config.freeze_vision:
            freeze_vision_tower(model, train_merger=config.train_merger)
    else:
        # Seeded: the adapters' initial weights are random. A LoRA checkpoint holds the adapter
        # only; the Trainer loads it into this model when resuming. The frozen base may be bf16
        # under autocast; peft keeps the adapters in fp32 (autocast_adapter_dtype).
        set_seed(config.seed)
        base_dtype = torch.bfloat16 if precision == "bf16-mixed" else training_dtype()
        model = apply_lora(
            load_model(base_model_dir, dtype=base_dtype),
            config.lora,
            config.activation_checkpointing,
        )
    # Beside the checkpoints: a resumed run (in a new pod, too) keeps the steps before it.
    log_path = config.checkpoint_folder(work_dir) / "train_log.jsonl"
    keep_log_until(log_path, checkpoint_step(resume_from) if resume_from else 0)
    settings: dict[str, Any] = dict(
        **checkpoint_args(config, work_dir),
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
        **{activation_checkpointing_field("sft"): config.activation_checkpointing},
        completion_only_loss=True,
        **precision_args(precision),
        deepspeed=deepspeed,
    )
    # trainer_args last: TRL fields the paper does not name (validated in the config).
    args = SFTConfig(**{**settings, **config.trainer_args})
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[JsonlLogCallback(log_path), *extra_callbacks],
    )
    metrics = train_to_the_end(trainer, resume_from)
    if config.lora is None:
        save_trained(trainer, processor, output_dir, log_path)
    else:
        adapter_dir = work_dir / LORA_ADAPTER_DIR
        save_merged(trainer, processor, base_model_dir, adapter_dir, output_dir, log_path)
    if selection is not None and selection.path is not None and trainer.is_world_process_zero():
        shutil.copyfile(selection.path, output_dir / f"vlaa_{SELECTION_FILE}")
    if fit.drops and trainer.is_world_process_zero():
        shutil.copyfile(work_dir / DROPS_FILE, output_dir / f"vlaa_{DROPS_FILE}")
    losses = [row["loss"] for row in read_log(log_path) if "loss" in row]
    summary = {
        "stage": "sft",
        "steps": trainer.state.global_step,
        "samples": len(dataset),
        "train_seconds": round(metrics.get("train_runtime", 0.0), 2),
        "resumed_from_step": checkpoint_step(resume_from) if resume_from else None,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "log": str(log_path),
        "config": config.model_dump(),
        "subset": selection.summary() if selection is not None else None,
        "fit": fit.summary(),
        "precision": precision,
        "trainable_parameters": sum(
            getattr(p, "ds_numel", p.numel())  # ZeRO-3 leaves a shard in each process
            for p in model.parameters()
            if p.requires_grad
        ),
    }
    (output_dir / "vlaa_training.json").write_text(json.dumps(summary, indent=2))
    return summary


def choose_subset(
    base_model_dir: Path, train_dir: Path, work_dir: Path, config: SFTStepConfig
) -> SubsetSelection | None:
    """The configured subset of ``train_dir`` (None: train on all of it); JSON beside the log."""
    if config.subset_strategy == "all":
        return None
    # Any base-model form; fetched ones are kept in the work folder (a retry reuses them).
    cache = work_dir / "scoring-models"
    models = [local_model(m, cache) for m in config.perplexity_models] or [base_model_dir]
    return select_subset(
        train_dir,
        config.subset_strategy,
        config.subset_size,
        scoring_models=models,
        combine=config.perplexity_combine,
        seed=config.seed,
        batch_size=config.perplexity_batch_size,
        max_length=config.max_length,
        output=work_dir / SELECTION_FILE,
    )


def apply_lora(
    model: PreTrainedModel, lora: LoRAConfig, activation_checkpointing: bool = False
) -> PeftModel:
    """Wrap ``model`` with LoRA adapters; everything else, the vision tower included, is frozen."""
    from peft import get_peft_model

    try:
        peft_model = get_peft_model(model, lora.peft_config())
    except ValueError as error:  # peft's "Target modules ... not found in the base model"
        raise ConfigError(
            f"sft: lora.target_modules {lora.target_modules} match no LLM layer ({error})"
        ) from error
    adapted = [name for name, _ in peft_model.named_modules() if name.endswith(".lora_A")]
    if not adapted:
        raise ConfigError(f"sft: lora.target_modules {lora.target_modules} match no LLM layer")
    if any(".visual." in name for name in adapted):
        raise ConfigError("sft: LoRA would adapt the vision tower; it must stay frozen")
    if activation_checkpointing:
        peft_model.enable_input_require_grads()
    return peft_model


def save_merged(
    trainer: Trainer,
    processor: ProcessorMixin,
    base_model_dir: Path,
    adapter_dir: Path,
    output_dir: Path,
    log_path: Path | None = None,
) -> None:
    """Save the adapter, then write base + merged adapter to ``output_dir`` as a plain model.

    The merge reloads the base model on the CPU instead of merging in place, so it works the
    same under ZeRO-3 (where each process holds a shard): ``save_model`` gathers the adapter.
    """
    from peft import PeftModel

    save_weights(trainer, adapter_dir)
    if trainer.is_world_process_zero():
        base = load_model(base_model_dir, dtype=training_dtype(), device="cpu")
        merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
        if output_dir.exists():
            shutil.rmtree(output_dir)
        merged.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
        if log_path is not None and log_path.is_file():
            shutil.copyfile(log_path, output_dir / TRAIN_LOG_IN_MODEL)
    trainer.accelerator.wait_for_everyone()
