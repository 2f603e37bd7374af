"""GRPO's vLLM knobs: named as TRL's GRPOConfig names them, sized from the token budgets, and
the processor vLLM loads carries the training image budget. (vLLM itself is not installed here.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fixtures.configs import tiny_grpo
from pydantic import ValidationError
from transformers import AutoProcessor
from trl import GRPOConfig

from vlaa.modeling.loading import load_processor
from vlaa.training.config import GRPOStepConfig
from vlaa.training.grpo_vllm import processor_view, vllm_args
from vlaa.training.precision import precision_args
from vlaa.training.trainer_args import trl_config_fields

VLLM_FIELDS = {
    "vllm_mode": "vllm_mode",
    "vllm_gpu_memory_utilization": "vllm_gpu_memory_utilization",
    "vllm_max_model_len": "vllm_max_model_length",
    "vllm_tensor_parallel_size": "vllm_tensor_parallel_size",
}


def test_each_vllm_knob_is_a_grpo_config_field_the_step_owns() -> None:
    real = {field.name for field in dataclasses.fields(GRPOConfig)}
    for ours, trls in VLLM_FIELDS.items():
        assert ours in GRPOStepConfig.model_fields
        assert trls in real and trls in trl_config_fields("grpo")
        assert GRPOStepConfig.OWNED_TRL_FIELDS[trls] == ours
    with pytest.raises(ValidationError, match=r"set by the step: use grpo\.vllm_max_model_len"):
        GRPOStepConfig(trainer_args={"vllm_max_model_length": 4096})


def test_the_mapping_builds_trls_config(tmp_path: Path) -> None:
    config = tiny_grpo(
        2, 8, vllm_mode="server", vllm_gpu_memory_utilization=0.5, vllm_tensor_parallel_size=2
    )
    # TRL defaults to bf16=True, which a machine without a bf16 GPU refuses.
    args = GRPOConfig(
        output_dir=str(tmp_path),
        **precision_args("fp32"),
        **vllm_args(config, False, longest_prompt=400),
    )
    assert args.vllm_mode == "server"
    assert args.vllm_gpu_memory_utilization == 0.5
    assert args.vllm_tensor_parallel_size == 2
    assert args.vllm_max_model_length == 400 + 16  # longest prompt + max_completion_length


def test_context_length_comes_from_the_budgets_not_the_models_128k() -> None:
    default = GRPOStepConfig()
    assert vllm_args(default, True, 700)["vllm_max_model_length"] == 700 + 1024
    capped = GRPOStepConfig(max_prompt_length=1500)
    assert vllm_args(capped, True, 700)["vllm_max_model_length"] == 1500 + 1024
    fixed = GRPOStepConfig(vllm_max_model_len=3000)
    assert fixed.prompt_budget() == 3000 - 1024  # longer prompts are dropped, not cut
    assert vllm_args(fixed, True, 700)["vllm_max_model_length"] == 3000


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"vllm_max_model_len": 1024}, "cannot hold a prompt"),
        ({"vllm_max_model_len": 2000, "max_prompt_length": 1000}, "cannot hold a prompt"),
        ({"vllm_mode": "remote"}, "colocate"),
        ({"vllm_gpu_memory_utilization": 1.5}, "less than or equal to 1"),
        ({"vllm_tensor_parallel_size": 0}, "greater than 0"),
    ],
)
def test_bad_vllm_settings_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GRPOStepConfig(**fields)


def test_vllm_loads_a_processor_with_the_training_budget(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = GRPOStepConfig(max_pixels=200_704, min_pixels=3136)
    processor = config.image_budget().apply(load_processor(tiny_model_dir))
    view = processor_view(tiny_model_dir, processor, tmp_path)

    loaded = AutoProcessor.from_pretrained(view).image_processor.size
    assert (loaded["longest_edge"], loaded["shortest_edge"]) == (200_704, 3136)
    original = AutoProcessor.from_pretrained(tiny_model_dir).image_processor.size
    assert original["longest_edge"] == 112 * 112  # the input model is left as it was
    weights = next(view.glob("*.safetensors"))
    assert weights.is_symlink() and weights.resolve().parent == tiny_model_dir.resolve()
