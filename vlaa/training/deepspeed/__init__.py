"""DeepSpeed ZeRO configs for multi-GPU SFT and GRPO; "auto" fields are filled by the Trainer."""

from __future__ import annotations

from pathlib import Path

from vlaa.errors import ConfigError

STAGES = ("zero2", "zero3")


def config_path(stage: str) -> Path:
    if stage not in STAGES:
        raise ValueError(f"unknown DeepSpeed stage {stage!r}; choose one of {', '.join(STAGES)}")
    return Path(__file__).with_name(f"{stage}.json")


def deepspeed_config(stage: str) -> str | None:
    """Path of the packaged ZeRO config, after checking DeepSpeed can be imported."""
    if stage == "none":
        return None
    try:
        import deepspeed  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            f"deepspeed={stage} needs the deepspeed package (installed in the trainer image, "
            "`pip install 'vlaa-thinker[gpu]'`)"
        ) from error
    return str(config_path(stage))
