"""Training precision: fp32 master weights with bf16 autocast on GPUs that have it, else fp32.

Weights are always loaded in fp32 (``vlaa.modeling.loading.training_dtype``); ``bf16-mixed``
sets ``TrainingArguments.bf16``, which accelerate turns into ``torch.autocast(bfloat16)``
around the forward pass (transformers/training_args.py sets ``mixed_precision = "bf16"``), so
matmuls run in bf16 while AdamW updates fp32 weights. Under DeepSpeed the same flag fills the
ZeRO config's ``"bf16": {"enabled": "auto"}``: DeepSpeed then holds bf16 weights for compute
and fp32 master weights in its optimizer. Pure bf16 weights are not offered: at the paper's
learning rates most AdamW updates are smaller than bf16's spacing and vanish.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from vlaa.errors import ConfigError
from vlaa.modeling.loading import bf16_autocast_supported

PrecisionChoice = Literal["auto", "bf16-mixed", "fp32"]
Precision = Literal["bf16-mixed", "fp32"]


def resolve_precision(choice: PrecisionChoice) -> Precision:
    """``auto``: bf16-mixed on a bf16-capable GPU, else fp32 (bf16 matmuls are slow on CPUs)."""
    if choice == "auto":
        return "bf16-mixed" if bf16_autocast_supported() else "fp32"
    if choice == "bf16-mixed" and torch.cuda.is_available() and not bf16_autocast_supported():
        raise ConfigError(
            "precision 'bf16-mixed' needs a GPU with bf16 (Ampere or newer); use 'fp32'"
        )
    return choice


def precision_args(precision: Precision) -> dict[str, Any]:
    """TrainingArguments for ``precision``.

    bf16 autocast also runs on the CPU (the tests use it there), but transformers refuses
    ``bf16=True`` without a bf16 GPU unless ``use_cpu`` is set (training_args.py: "Your setup
    doesn't support bf16/gpu. You need to assign use_cpu ...").
    """
    bf16 = precision == "bf16-mixed"
    args: dict[str, Any] = {"bf16": bf16, "fp16": False}
    if bf16 and not torch.cuda.is_available():
        args["use_cpu"] = True
    return args


def reference_model_args(precision: Precision) -> dict[str, Any]:
    """``model_init_kwargs`` for GRPO's frozen reference model: bf16 under bf16-mixed.

    TRL builds the reference "like the policy" (grpo_trainer.py: ``model_init_kwargs.setdefault(
    "dtype", self.model.dtype)``), which would be a second fp32 copy; it is never stepped, so
    bf16 halves its memory at no cost to the update.
    """
    # A string, as TRL's create_model_from_path accepts it (trl/trainer/utils.py), so the
    # config stays JSON-serialisable in checkpoints.
    return {"dtype": "bfloat16" if precision == "bf16-mixed" else "float32"}
