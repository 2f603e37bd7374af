"""Load models and processors written by the factory or any Qwen2.5-VL-style checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin

from vlaa.errors import UserError


class ModelLoadError(UserError, RuntimeError):
    """A model folder that cannot be used; the message names the folder and what is missing."""


def check_model_dir(path: Path) -> None:
    """Fail clearly unless ``path`` holds weights, a config and a processor/tokenizer."""
    if not path.is_dir():
        raise ModelLoadError(f"model folder {path} does not exist")
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        missing.append("weights (*.safetensors)")
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        missing.append("tokenizer (tokenizer.json)")
    if missing:
        raise ModelLoadError(f"model folder {path} is missing: {', '.join(missing)}")


def best_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_autocast_supported() -> bool:
    """A CUDA GPU that computes in bf16 (Ampere or newer)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def training_dtype() -> torch.dtype:
    """The dtype trained weights are kept in: always fp32 ("master weights").

    bf16 weights stepped by AdamW lose every update smaller than bf16's spacing (~0.4% of the
    weight): at lr 1e-6 most updates vanish. The GPU speed comes from bf16 autocast instead
    (``TrainingArguments.bf16``, see ``vlaa.training.precision``), as TRL does when it loads a
    model itself (trl/trainer/grpo_trainer.py: "If `dtype` is not specified ... it defaults to
    `float32`"; base_config.py sets ``bf16=True``).
    """
    return torch.float32


def inference_dtype() -> torch.dtype:
    """bf16 for generation and scoring where the GPU supports it, fp32 on CPU."""
    return torch.bfloat16 if bf16_autocast_supported() else torch.float32


def load_processor(path: Path) -> ProcessorMixin:
    check_model_dir(path)
    return AutoProcessor.from_pretrained(path)


def load_model(
    path: Path, dtype: torch.dtype | None = None, device: str | None = None
) -> PreTrainedModel:
    """The model in ``path``: fp32 by default (training); inference passes ``inference_dtype()``."""
    check_model_dir(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype or training_dtype())
    return model.to(device or best_device())


def freeze_vision_tower(model: PreTrainedModel, train_merger: bool = True) -> int:
    """Freeze the vision encoder (the paper trains the LLM only); return parameters left trainable.

    The patch merger (the vision-to-language projector) stays trainable by default, as in the
    Qwen-VL fine-tuning recipes: it is the adapter between the frozen encoder and the LLM.
    """
    visual = model.model.visual if hasattr(model, "model") else model.visual
    for name, parameter in visual.named_parameters():
        parameter.requires_grad = train_merger and name.startswith("merger.")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
