"""The two training steps by name: each one's config class and train function.

The KFP components, the CLI and the launched worker all look a step up here. The train
functions import torch, so they are imported only when a step is looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vlaa.training.config import GRPOStepConfig, SFTStepConfig, TrainingRunFields

STAGES = ("sft", "grpo")
TrainFunction = Callable[..., dict[str, Any]]


def training_step(stage: str) -> tuple[type[TrainingRunFields], TrainFunction]:
    """``(config class, train function)`` of ``stage``; a clear error for any other name."""
    if stage == "sft":
        from vlaa.training.sft import run_sft

        return SFTStepConfig, run_sft
    if stage == "grpo":
        from vlaa.training.grpo import run_grpo

        return GRPOStepConfig, run_grpo
    raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
