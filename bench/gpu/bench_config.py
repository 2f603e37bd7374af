"""The settings the GPU benchmark measures, pinned so that it needs neither pydantic nor TRL.

The GPU machine has torch, transformers, accelerate and peft but no pydantic (the project's
configs are pydantic models) and no TRL. So the defaults are copied here and
``tests/bench_gpu/test_bench_config.py`` checks every copied value against its source:
``vlaa.training.config`` (GRPOStepConfig, SFTStepConfig), ``vlaa.evaluation.config``
(EvaluateStepConfig) and the dataclass defaults of TRL's ``GRPOConfig`` (trl 1.16.0,
trl/trainer/grpo_config.py and trl/trainer/base_config.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

TRL_VERSION = "1.16.0"  # the TRL the defaults below were read from (pyproject pins it)

# The paper, "GRPO with the mixed reward": group size 4, temperature 0.8.
PAPER_GRPO = {"num_generations": 4, "temperature": 0.8}

# trl.GRPOConfig field defaults that change what a step costs or how weights move.
# gradient_checkpointing and bf16 come from TRL's base_config.py (True / True-unless-fp16);
# bf16 there is mixed precision: fp32 master weights under bf16 autocast.
TRL_GRPO_DEFAULTS: dict[str, Any] = {
    "num_generations": 8,
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 0,
    "max_completion_length": 512,
    "per_device_train_batch_size": 8,
    "learning_rate": 1e-6,
    "beta": 0.0,
    "loss_type": "dapo",
    "epsilon": 0.2,
    "num_iterations": 1,
    "gradient_checkpointing": True,
    "max_grad_norm": 1.0,
    "weight_decay": 0.0,
    "adam_beta1": 0.9,
    "adam_beta2": 0.999,
    "adam_epsilon": 1e-8,
    "optim": "adamw_torch_fused",
}

# vlaa.training.config.GRPOStepConfig defaults that the GRPO step hands to TRL (grpo.py);
# every other TRL field keeps TRL's default, gradient checkpointing included.
PROJECT_GRPO_DEFAULTS: dict[str, Any] = {
    "num_generations": 4,
    "temperature": 0.8,
    "max_completion_length": 1024,
    "per_device_batch_size": 8,
    "learning_rate": 1e-6,
    "beta": 1e-3,
    "loss_type": "grpo",
    "rollout_batch_prompts": 512,
    "train_batch_completions": 256,
}

# vlaa.training.config.SFTStepConfig defaults (activation_checkpointing maps to TRL's
# gradient_checkpointing, so the project's SFT runs without it).
PROJECT_SFT_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-5,
    "per_device_batch_size": 4,
    "global_batch_size": 128,
    "max_length": 4096,
    "weight_decay": 0.0,
    "activation_checkpointing": False,
    "freeze_vision": True,
    "train_merger": True,
}

# vlaa.evaluation.config.EvaluateStepConfig defaults: the paper's greedy protocol.
PROJECT_EVAL_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": 800,
    "batch_size": 16,
    "max_pixels": 256 * 32 * 32,
}

# Qwen2VLImageProcessor's own default cap (Qwen/Qwen2.5-VL-3B-Instruct
# preprocessor_config.json max_pixels); what a page costs when nothing caps it.
QWEN_DEFAULT_MAX_PIXELS = 12_845_056

# Size of the RL split the paper trains GRPO on (49 rollouts of 512 prompts).
PAPER_RL_PROMPTS = 25_000
PAPER_GPUS = 8


@dataclass(frozen=True)
class GRPOVariant:
    """What one GRPO micro-step does; every field decides cost or how far weights move."""

    name: str
    num_generations: int
    temperature: float
    top_p: float
    top_k: int
    max_completion_length: int
    per_device_batch_size: int
    learning_rate: float
    beta: float
    loss_type: str
    epsilon: float
    gradient_checkpointing: bool
    max_grad_norm: float
    weight_decay: float
    reference_dtype: str = "policy"  # TRL builds the reference in the policy's dtype
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _from_trl(name: str, source: str, **overrides: Any) -> GRPOVariant:
    trl = TRL_GRPO_DEFAULTS
    fields: dict[str, Any] = dict(
        name=name,
        num_generations=trl["num_generations"],
        temperature=trl["temperature"],
        top_p=trl["top_p"],
        top_k=trl["top_k"],
        max_completion_length=trl["max_completion_length"],
        per_device_batch_size=trl["per_device_train_batch_size"],
        learning_rate=trl["learning_rate"],
        beta=trl["beta"],
        loss_type=trl["loss_type"],
        epsilon=trl["epsilon"],
        gradient_checkpointing=trl["gradient_checkpointing"],
        max_grad_norm=trl["max_grad_norm"],
        weight_decay=trl["weight_decay"],
        source=source,
    )
    fields.update(overrides)
    return GRPOVariant(**fields)


def grpo_variants() -> list[GRPOVariant]:
    """TRL's defaults and the project's, both with the paper's group size and temperature.

    TRL first: it needs no reference model, so it is the smaller of the two and an
    out-of-memory in the project's variant cannot cost the other its numbers.
    """
    project = PROJECT_GRPO_DEFAULTS
    return [
        _from_trl(
            "trl_default",
            f"trl {TRL_VERSION} GRPOConfig defaults; num_generations and temperature from the "
            "paper (TRL's own: 8 and 1.0)",
            **PAPER_GRPO,
        ),
        _from_trl(
            "project",
            "vlaa.training.config.GRPOStepConfig defaults over TRL's for the fields the project "
            "leaves to TRL",
            num_generations=project["num_generations"],
            temperature=project["temperature"],
            max_completion_length=project["max_completion_length"],
            per_device_batch_size=project["per_device_batch_size"],
            learning_rate=project["learning_rate"],
            beta=project["beta"],
            loss_type=project["loss_type"],
        ),
    ]


def with_bf16_reference(variant: GRPOVariant) -> GRPOVariant:
    """The fallback after an out-of-memory: the reference model held in bf16."""
    return replace(variant, name=f"{variant.name}_bf16_reference", reference_dtype="bf16")


def dense_bf16_peak_tflops(device_name: str) -> float | None:
    """NVIDIA's dense (no sparsity) bf16 tensor-core peak for the card, or None if unknown.

    H100 datasheet: SXM 989 TFLOP/s, NVL 835, PCIe 756; H200 datasheet: SXM 989, NVL 835;
    A100: 312. The sparse figures (twice these) are not used.
    """
    name = device_name.upper()
    if "H100" in name or "H200" in name:
        if "PCIE" in name:
            return 756.0
        if "NVL" in name:
            return 835.0
        return 989.0
    if "A100" in name:
        return 312.0
    return None
