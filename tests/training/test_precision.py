"""Training precision: fp32 master weights with bf16 autocast, exercised on the CPU.

bf16 autocast runs on the CPU too, so the GPU's settings (``precision="bf16-mixed"``) are
tested here as they run on a GPU: weights in fp32, matmuls in bf16, AdamW stepping fp32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from fixtures.configs import tiny_sft
from transformers import TrainerCallback

from vlaa.modeling.loading import inference_dtype, load_model, training_dtype
from vlaa.training.precision import precision_args, reference_model_args, resolve_precision
from vlaa.training.sft import run_sft

TRAINABLE_PREFIXES = ("model.language_model.", "model.visual.merger.", "lm_head.")


def test_weights_are_fp32_and_bf16_is_autocast_only() -> None:
    assert training_dtype() == torch.float32
    assert resolve_precision("fp32") == "fp32"
    assert precision_args("fp32") == {"bf16": False, "fp16": False}
    assert precision_args("bf16-mixed")["bf16"] is True
    assert reference_model_args("bf16-mixed") == {"dtype": "bfloat16"}
    if not torch.cuda.is_available():
        assert resolve_precision("auto") == "fp32"  # bf16 matmuls are slow on CPUs
        assert inference_dtype() == torch.float32
        assert precision_args("bf16-mixed")["use_cpu"] is True  # transformers refuses it otherwise


class _PrecisionProbe(TrainerCallback):
    """Records what the trainer ran with, and whether the forward pass ran under bf16 autocast."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any):
        self.seen["bf16"] = args.bf16
        self.seen["dtypes"] = {p.dtype for p in model.parameters() if p.requires_grad}
        layer = model.model.language_model.layers[0].mlp.up_proj
        layer.register_forward_hook(self._record_output_dtype)

    def _record_output_dtype(self, module: Any, inputs: Any, output: torch.Tensor) -> None:
        self.seen.setdefault("matmul_dtype", output.dtype)


@pytest.mark.slow
def test_one_adamw_step_at_lr_1e_6_moves_almost_every_weight(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    config = tiny_sft(
        1, 2, 2, learning_rate=1e-6, lr_scheduler_type="constant", precision="bf16-mixed"
    )
    probe = _PrecisionProbe()
    summary = run_sft(
        tiny_model_dir, tiny_dataset["sft"], tmp_path / "sft", config, extra_callbacks=[probe]
    )
    assert summary["steps"] == 1 and summary["precision"] == "bf16-mixed"
    assert probe.seen["bf16"] is True
    assert probe.seen["dtypes"] == {torch.float32}  # master weights
    assert probe.seen["matmul_dtype"] == torch.bfloat16  # autocast

    before = load_model(tiny_model_dir, device="cpu").state_dict()
    after = load_model(tmp_path / "sft", device="cpu").state_dict()
    names = [name for name in before if name.startswith(TRAINABLE_PREFIXES)]
    assert any(name.startswith("model.visual.merger.") for name in names)
    changed = sum(int((before[n] != after[n]).sum()) for n in names)
    total = sum(before[n].numel() for n in names)
    # Pure bf16 weights keep about 2% of these updates; fp32 master weights keep them all.
    assert changed / total > 0.9, f"only {changed / total:.1%} of trainable weights moved"
