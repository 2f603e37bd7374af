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


def training_dtype() -> torch.dtype:
    """bf16 where the GPU supports it, fp32 on CPU (bf16 matmuls are slow on most CPUs)."""
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_processor(path: Path) -> ProcessorMixin:
    check_model_dir(path)
    return AutoProcessor.from_pretrained(path)


def load_model(
    path: Path, dtype: torch.dtype | None = None, device: str | None = None
) -> PreTrainedModel:
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
