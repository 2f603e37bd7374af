"""The measured phases: greedy evaluation, SFT on document pages, GRPO micro-steps.

Each phase runs one warm-up step (module loading, cuBLAS handles and the allocator stay out of
the numbers; its optimizer step also gives the share of weights changed), then measured steps
until ``steps`` or the phase's time is used, at least one. Training is fp32 master weights with
bf16 autocast (TRL's ``bf16=True``), AdamW (fused on CUDA, TRL's ``adamw_torch_fused``).

A GRPO micro-step is what TRL's GRPOTrainer does per ``per_device_batch_size`` completions
without vLLM: ``model.generate`` (sampling at the variant's temperature, under autocast, no
gradient checkpointing), the reference model's log-probabilities when ``beta > 0``, the policy's
forward/backward on prompt + completion (``logits_to_keep`` as TRL), the clipped surrogate loss
with the k3 KL term, gradient clipping and an optimizer step. Rewards are random numbers,
normalised per group: scoring costs nothing next to the model and random weights earn nothing.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from bench_config import (
    PAPER_GPUS,
    PAPER_RL_PROMPTS,
    PROJECT_EVAL_DEFAULTS,
    PROJECT_SFT_DEFAULTS,
    QWEN_DEFAULT_MAX_PIXELS,
    TRL_GRPO_DEFAULTS,
    GRPOVariant,
)
from bench_inputs import (
    FIGURE_SIZE,
    PAGE_SIZE,
    first_image_tokens,
    image_tokens,
    model_inputs,
    patch_count,
    prompt_batch,
    sft_batch,
)
from bench_measure import (
    ChangeSampler,
    FlopCounter,
    median,
    peak_memory,
    reset_peak_memory,
    timed,
)
from transformers import BatchFeature, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

WARMUP_NEW_TOKENS = 16


@dataclass
class Bench:
    model: Qwen2_5_VLForConditionalGeneration
    processor: Qwen2_5_VLProcessor
    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain fp32 (the project's CPU precision)
    flops: FlopCounter
    steps: int  # measured steps per phase, at most
    max_new_tokens: int | None  # cap on every generation length (CPU smoke runs)
    max_pixels: int
    question_tokens: int
    answer_tokens: int

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(
            self.device.type,
            dtype=self.autocast_dtype or torch.bfloat16,
            enabled=self.autocast_dtype is not None,
        )

    def capped(self, tokens: int) -> int:
        return min(tokens, self.max_new_tokens) if self.max_new_tokens else tokens

    @property
    def eos(self) -> int:
        return int(self.model.generation_config.eos_token_id)

    @property
    def pad(self) -> int:
        return int(self.processor.tokenizer.pad_token_id)

    @property
    def vision_tokens(self) -> list[int]:
        """Never sampled: random weights would now and then emit <|image_pad|>, and the
        training forward then finds more image tokens than images (a trained model doesn't)."""
        names = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
        return [int(self.processor.tokenizer.convert_tokens_to_ids(n)) for n in names]


def measure_steps(step: Callable[[], dict[str, float]], steps: int, stop_at: float) -> list[dict]:
    """Measured steps after the warm-up: at least one, then while the phase has time."""
    results: list[dict[str, float]] = []
    while len(results) < steps:
        started = time.perf_counter()
        results.append(step())
        last = time.perf_counter() - started
        if time.perf_counter() + last > stop_at:
            break
    return results


def completion_mask(completions: torch.Tensor, eos: int) -> torch.Tensor:
    """1 up to and including each row's first EOS (TRL's mask), 0 after."""
    is_eos = completions == eos
    first = torch.where(
        is_eos.any(dim=1),
        is_eos.int().argmax(dim=1),
        torch.full((completions.shape[0],), completions.shape[1], device=completions.device),
    )
    positions = torch.arange(completions.shape[1], device=completions.device)
    return (positions[None, :] <= first[:, None]).int()


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(
        params,
        lr=lr,
        betas=(TRL_GRPO_DEFAULTS["adam_beta1"], TRL_GRPO_DEFAULTS["adam_beta2"]),
        eps=TRL_GRPO_DEFAULTS["adam_epsilon"],
        weight_decay=weight_decay,
        fused=params[0].device.type == "cuda",
    )


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, clip: float) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def freeze_vision(model: Qwen2_5_VLForConditionalGeneration, train_merger: bool) -> None:
    """vlaa.modeling.loading.freeze_vision_tower, which cannot be imported without pydantic."""
    for name, parameter in model.model.visual.named_parameters():
        parameter.requires_grad = train_merger and name.startswith("merger.")


def set_checkpointing(model: Qwen2_5_VLForConditionalGeneration, enabled: bool) -> None:
    if enabled:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()


def generated_tokens(output: torch.Tensor, prompt_length: int, eos: int) -> int:
    return int(completion_mask(output[:, prompt_length:], eos).sum().item())


# ------------------------------------------------------------------------------ evaluation


def run_eval(bench: Bench, stop_at: float) -> dict[str, Any]:
    """The evaluate step's transformers path: bf16 weights on a GPU, greedy, batch 16."""
    batch_size = PROJECT_EVAL_DEFAULTS["batch_size"]
    new_tokens = bench.capped(PROJECT_EVAL_DEFAULTS["max_new_tokens"])
    batch = prompt_batch(
        bench.processor, batch_size, FIGURE_SIZE, bench.question_tokens, bench.device
    )
    at_start = reset_peak_memory(bench.device)  # the fp32 training weights stay resident
    # The project's evaluation loads the model in bf16 where training would autocast to it.
    model = bench.model
    if bench.autocast_dtype is not None:
        model = copy.deepcopy(bench.model).to(bench.autocast_dtype)
    model.eval()
    inputs = model_inputs(batch)
    prompt_length = inputs["input_ids"].shape[1]
    prompt_tokens = int(inputs["attention_mask"].sum().item())
    patches = patch_count(batch)

    def generate(max_new_tokens: int) -> dict[str, float]:
        times: dict[str, float] = {}
        with timed(bench.device, times, "step_s"), torch.no_grad():
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=bench.pad,
                eos_token_id=bench.eos,
                suppress_tokens=bench.vision_tokens,
            )
        times["generated_tokens"] = generated_tokens(output, prompt_length, bench.eos)
        return times

    warmup = generate(min(WARMUP_NEW_TOKENS, new_tokens))
    measured = measure_steps(lambda: generate(new_tokens), bench.steps, stop_at)
    step_s = median([m["step_s"] for m in measured])
    tokens = median([m["generated_tokens"] for m in measured])
    flops = bench.flops.forward(prompt_tokens + int(tokens), patches)
    result = {
        "status": "ok",
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "batch_size": batch_size,
        "max_new_tokens": new_tokens,
        "prompt_tokens": prompt_tokens,
        "image_tokens_per_prompt": first_image_tokens(batch),
        "generated_tokens": int(tokens),
        "warmup_step_s": round(warmup["step_s"], 4),
        "measured_steps": len(measured),
        "step_s": round(step_s, 4),
        "step_s_all": [round(m["step_s"], 4) for m in measured],
        "generation_tokens_per_s": round(tokens / step_s, 2),
        "mfu": bench.flops.mfu(flops, step_s),
        **at_start,
        **peak_memory(bench.device),
    }
    return result  # the bf16 copy goes with this frame


# ------------------------------------------------------------------------------------ SFT


def run_sft(bench: Bench, stop_at: float, checkpointing: bool | None = None) -> dict[str, Any]:
    """The project's SFT micro-step on 1700x2200 pages: vision frozen, merger trained;
    ``checkpointing`` overrides the config's activation checkpointing."""
    config = PROJECT_SFT_DEFAULTS
    if checkpointing is None:
        checkpointing = config["activation_checkpointing"]
    model = bench.model
    freeze_vision(model, train_merger=config["train_merger"])
    set_checkpointing(model, checkpointing)
    batch = sft_batch(
        bench.processor,
        config["per_device_batch_size"],
        bench.question_tokens,
        bench.answer_tokens,
        bench.device,
    )
    inputs = model_inputs(batch)
    tokens = int(inputs["attention_mask"].sum().item())
    patches = patch_count(batch)
    sequence_length = inputs["input_ids"].shape[1]
    at_start = reset_peak_memory(bench.device)
    optimizer = make_optimizer(model, config["learning_rate"], config["weight_decay"])
    sampler = ChangeSampler(model)
    model.train()

    def step() -> dict[str, float]:
        times: dict[str, float] = {}
        with timed(bench.device, times, "step_s"):
            with bench.autocast():
                loss = model(**inputs, labels=batch["labels"], use_cache=False).loss
            loss.backward()
            optimizer_step(model, optimizer, TRL_GRPO_DEFAULTS["max_grad_norm"])
        return times

    warmup = step()
    changed = sampler.changed_share()
    measured = measure_steps(step, bench.steps, stop_at)
    step_s = median([m["step_s"] for m in measured])
    flops = bench.flops.training(tokens, patches)
    micro_steps = config["global_batch_size"] // (config["per_device_batch_size"] * PAPER_GPUS)
    return {
        "status": "ok",
        "precision": precision_name(bench),
        "learning_rate": config["learning_rate"],
        "per_device_batch_size": config["per_device_batch_size"],
        "activation_checkpointing": checkpointing,
        "page_size": list(PAGE_SIZE),
        "max_pixels": bench.max_pixels,
        "image_tokens_per_page": first_image_tokens(batch),
        "image_tokens_per_page_uncapped": image_tokens(*PAGE_SIZE, QWEN_DEFAULT_MAX_PIXELS),
        "sequence_length": sequence_length,
        "fits_max_length": sequence_length <= config["max_length"],
        "training_tokens": tokens,
        "warmup_step_s": round(warmup["step_s"], 4),
        "measured_steps": len(measured),
        "step_s": round(step_s, 4),
        "step_s_all": [round(m["step_s"], 4) for m in measured],
        "training_tokens_per_s": round(tokens / step_s, 2),
        "mfu": bench.flops.mfu(flops, step_s),
        # Global batch 128 on the paper's 8 GPUs: this many micro-steps per optimizer step.
        "optimizer_step_s_on_8_gpus": round(step_s * micro_steps, 3),
        **changed,
        **at_start,
        **peak_memory(bench.device),
    }


def precision_name(bench: Bench) -> str:
    if bench.autocast_dtype is None:
        return "fp32"
    return f"fp32 master weights, {str(bench.autocast_dtype).removeprefix('torch.')} autocast"


# ----------------------------------------------------------------------------------- GRPO


def token_logps(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], completions: torch.Tensor, t: float
) -> torch.Tensor:
    """Per-token log-probabilities of ``completions`` (TRL's selective_log_softmax row loop)."""
    keep = completions.shape[1]
    logits = model(**inputs, logits_to_keep=keep + 1, use_cache=False).logits[:, :-1]
    logits = logits / t
    rows = [
        torch.log_softmax(row, dim=-1).gather(-1, ids[:, None]).squeeze(-1)
        for row, ids in zip(logits, completions, strict=True)
    ]
    return torch.stack(rows)


def grpo_loss(
    logps: torch.Tensor,
    ref_logps: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    variant: GRPOVariant,
) -> torch.Tensor:
    """TRL's clipped surrogate (one iteration: old = current, detached) plus beta * k3 KL."""
    ratio = torch.exp(logps - logps.detach())
    clipped = torch.clamp(ratio, 1 - variant.epsilon, 1 + variant.epsilon)
    per_token = -torch.min(ratio * advantages[:, None], clipped * advantages[:, None])
    if ref_logps is not None:
        delta = ref_logps - logps
        per_token = per_token + variant.beta * (torch.exp(delta) - delta - 1)
    mask = mask.to(per_token.dtype)
    if variant.loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
    return (per_token * mask).sum() / mask.sum().clamp(min=1)  # dapo / bnpo: token-level


def training_inputs(prompts: BatchFeature, output: torch.Tensor, mask: torch.Tensor) -> dict:
    inputs = model_inputs(prompts)
    completion_length = mask.shape[1]
    inputs["input_ids"] = output
    inputs["attention_mask"] = torch.cat([inputs["attention_mask"], mask], dim=1)
    if "mm_token_type_ids" in inputs:  # completion tokens are text
        types = inputs["mm_token_type_ids"]
        zeros = types.new_zeros((types.shape[0], completion_length))
        inputs["mm_token_type_ids"] = torch.cat([types, zeros], dim=1)
    return inputs


def run_grpo(bench: Bench, variant: GRPOVariant, stop_at: float) -> dict[str, Any]:
    model = bench.model
    group = variant.num_generations
    batch = variant.per_device_batch_size
    completion_length = bench.capped(variant.max_completion_length)
    freeze_vision(model, train_merger=True)
    prompts = prompt_batch(
        bench.processor, batch, FIGURE_SIZE, bench.question_tokens, bench.device, repeat=group
    )
    prompt_inputs = model_inputs(prompts)
    prompt_length = prompt_inputs["input_ids"].shape[1]
    prompt_tokens = int(prompt_inputs["attention_mask"].sum().item())
    patches = patch_count(prompts)
    at_start = reset_peak_memory(bench.device)
    reference = None
    if variant.beta > 0:  # TRL builds it in the policy's dtype (grpo_trainer.py, ref_model)
        reference = copy.deepcopy(model).eval().requires_grad_(False)
        if variant.reference_dtype == "bf16":
            reference = reference.to(torch.bfloat16)
    set_checkpointing(model, variant.gradient_checkpointing)
    optimizer = make_optimizer(model, variant.learning_rate, variant.weight_decay)
    sampler = ChangeSampler(model)
    generator = torch.Generator().manual_seed(0)

    def step(new_tokens: int) -> dict[str, float]:
        times: dict[str, float] = {}
        started = time.perf_counter()
        model.eval()  # HF skips gradient checkpointing outside training mode, as TRL does
        with timed(bench.device, times, "generation_s"), torch.no_grad(), bench.autocast():
            output = model.generate(
                **prompt_inputs,
                do_sample=True,
                temperature=variant.temperature,
                top_p=variant.top_p,
                top_k=variant.top_k,
                max_new_tokens=new_tokens,
                pad_token_id=bench.pad,
                eos_token_id=bench.eos,
                suppress_tokens=bench.vision_tokens,
            )
        completions = output[:, prompt_length:]
        mask = completion_mask(completions, bench.eos)
        inputs = training_inputs(prompts, output, mask)
        rewards = torch.rand(batch, generator=generator).view(-1, group)
        spread = rewards.std(1, keepdim=True) + 1e-4  # TRL's scale_rewards="group"
        advantages = ((rewards - rewards.mean(1, keepdim=True)) / spread).view(-1)
        advantages = advantages.to(bench.device)
        ref_logps = None
        if reference is not None:
            with timed(bench.device, times, "reference_s"), torch.no_grad(), bench.autocast():
                ref_logps = token_logps(reference, inputs, completions, variant.temperature)
        model.train()
        with timed(bench.device, times, "train_s"):
            with bench.autocast():
                logps = token_logps(model, inputs, completions, variant.temperature)
                loss = grpo_loss(logps, ref_logps, advantages, mask, variant)
            loss.backward()
            with timed(bench.device, times, "optimizer_s"):
                optimizer_step(model, optimizer, variant.max_grad_norm)
        times["step_s"] = time.perf_counter() - started
        times["completion_tokens"] = int(mask.sum().item())
        return times

    warmup = step(min(WARMUP_NEW_TOKENS, completion_length))
    changed = sampler.changed_share()
    measured = measure_steps(lambda: step(completion_length), bench.steps, stop_at)
    return grpo_summary(bench, variant, measured, warmup, changed, prompt_tokens, patches) | {
        "completion_length": completion_length,
        "prompts": batch // group,
        "completions": batch,
        "prompt_tokens": prompt_tokens,
        **at_start,
    }


def grpo_summary(
    bench: Bench,
    variant: GRPOVariant,
    measured: list[dict[str, float]],
    warmup: dict[str, float],
    changed: dict[str, float | int],
    prompt_tokens: int,
    patches: int,
) -> dict[str, Any]:
    def mid(key: str) -> float:
        return median([m.get(key, 0.0) for m in measured])

    completion_tokens = int(mid("completion_tokens"))
    tokens = prompt_tokens + completion_tokens
    flops = bench.flops
    generation_flops = flops.forward(tokens, patches)
    reference_flops = flops.forward(tokens, patches) if variant.beta > 0 else 0.0
    training_flops = flops.training(tokens, patches)
    step_s = mid("step_s")
    completions_per_gpu = PAPER_RL_PROMPTS * variant.num_generations / PAPER_GPUS
    micro_steps = completions_per_gpu / variant.per_device_batch_size
    return {
        "status": "ok",
        "variant": variant.name,
        "settings": variant.as_dict(),
        "precision": precision_name(bench),
        "completion_tokens": completion_tokens,
        "warmup_step_s": round(warmup["step_s"], 4),
        "measured_steps": len(measured),
        "step_s": round(step_s, 4),
        "step_s_all": [round(m["step_s"], 4) for m in measured],
        "generation_s": round(mid("generation_s"), 4),
        "reference_s": round(mid("reference_s"), 4),
        "train_s": round(mid("train_s"), 4),
        "optimizer_s": round(mid("optimizer_s"), 4),
        "generation_tokens_per_s": round(completion_tokens / mid("generation_s"), 2),
        "training_tokens_per_s": round(tokens / mid("train_s"), 2),
        "mfu_generation": flops.mfu(generation_flops, mid("generation_s")),
        "mfu_training": flops.mfu(training_flops, mid("train_s")),
        "mfu": flops.mfu(generation_flops + reference_flops + training_flops, step_s),
        # One pass over the paper's 25K-prompt RL split on 8 GPUs at this micro-step time
        # (an optimizer step per micro-step here; the real run accumulates, a little cheaper).
        "paper_run_hours_on_8_gpus": round(micro_steps * step_s / 3600, 2),
        **changed,
        **peak_memory(bench.device),
    }
