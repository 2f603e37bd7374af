"""DeepSpeed ZeRO configs for multi-GPU SFT and GRPO; "auto" fields are filled by the Trainer."""

from __future__ import annotations

from pathlib import Path

STAGES = ("zero2", "zero3")


def config_path(stage: str) -> Path:
    if stage not in STAGES:
        raise ValueError(f"unknown DeepSpeed stage {stage!r}; choose one of {', '.join(STAGES)}")
    return Path(__file__).with_name(f"{stage}.json")
