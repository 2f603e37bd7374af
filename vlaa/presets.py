"""Named parameter sets. ``paper`` is every step's defaults (the paper's settings at full scale);
``local-cpu`` shrinks the run so the whole DAG finishes in minutes on 2 CPU cores with the tiny
model and still visibly learns."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "local-cpu": {
        "base_model": "tiny",
        "grpo_init": "sft",
        "data": {"num_samples": 700, "eval_size": 100, "seed": 0},
        "sft": {
            "learning_rate": 3e-3,
            "global_batch_size": 16,
            "per_device_batch_size": 16,
            "num_train_epochs": 6,
            "warmup_ratio": 0.05,
            "logging_steps": 5,
        },
        # A 40-token budget truncates about 3 in 4 of the SFT model's sampled answers at first
        # (no <answer>, reward 0); finishing within it is what the tiny model learns by RL
        # (bench/grpo_learning.py). Its perception stays near chance: 0.5M parameters.
        "grpo": {
            "learning_rate": 1e-4,
            "min_learning_rate": 1e-5,
            "rollout_batch_prompts": 8,
            "train_batch_completions": 32,
            "per_device_batch_size": 32,
            "max_steps": 80,
            "max_completion_length": 40,
            "warmup_ratio": 0.0,
            "save_steps": 20,
        },
        "evaluate": {"max_new_tokens": 64, "batch_size": 50},
        "publish": {"model_name": "vlaa-thinker-tiny"},
    },
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
