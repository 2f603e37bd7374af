"""trainer_args: TRL config fields beyond the paper's vocabulary, checked without importing TRL."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vlaa.training.config import GRPOStepConfig, SFTStepConfig
from vlaa.training.trainer_args import trl_config_fields


@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_fields_read_from_the_sources_are_the_dataclass_fields(kind: str) -> None:
    import trl

    trl_class = trl.SFTConfig if kind == "sft" else trl.GRPOConfig
    assert trl_config_fields(kind) == {field.name for field in dataclasses.fields(trl_class)}


def test_a_known_trl_field_is_accepted() -> None:
    config = SFTStepConfig(trainer_args={"dataloader_num_workers": 4, "optim": "adamw_torch"})
    assert config.trainer_args == {"dataloader_num_workers": 4, "optim": "adamw_torch"}
    grpo = GRPOStepConfig(trainer_args={"top_p": 0.95, "mask_truncated_completions": True})
    assert grpo.trainer_args["top_p"] == 0.95


def test_an_unknown_field_is_named_with_a_suggestion() -> None:
    with pytest.raises(
        ValidationError,
        match=r"'dataloader_num_worker' is not a field of TRL's "
        r"SFTConfig \(did you mean 'dataloader_num_workers'\?\)",
    ):
        SFTStepConfig(trainer_args={"dataloader_num_worker": 4})
    with pytest.raises(
        ValidationError, match="'num_generation' is not a field of TRL's GRPOConfig"
    ):
        GRPOStepConfig(trainer_args={"num_generation": 8})


@pytest.mark.parametrize(
    ("config_class", "field", "own"),
    [
        (SFTStepConfig, "learning_rate", "sft.learning_rate"),
        (SFTStepConfig, "gradient_accumulation_steps", "sft.global_batch_size"),
        (GRPOStepConfig, "beta", "grpo.beta"),
        (GRPOStepConfig, "steps_per_generation", "grpo.rollout_batch_prompts"),
    ],
)
def test_a_field_the_step_sets_itself_is_refused(config_class: Any, field: str, own: str) -> None:
    with pytest.raises(ValidationError, match=f"'{field}' is set by the step: use {own}"):
        config_class(trainer_args={field: 1})


def test_a_bad_trainer_arg_fails_run_parameter_validation() -> None:
    from vlaa.parameters import ParameterError, validate_parameters

    with pytest.raises(ParameterError, match=r"grpo\..*'temprature' is not a field"):
        validate_parameters({"grpo": {"trainer_args": {"temprature": 1.0}}})


@pytest.mark.slow
def test_trainer_args_reach_the_trainer(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    from transformers import TrainerCallback

    from vlaa.training.sft import run_sft

    seen: dict[str, Any] = {}

    class Probe(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            seen.update(optim=str(args.optim), max_grad_norm=args.max_grad_norm)

    config = SFTStepConfig(
        global_batch_size=2,
        per_device_batch_size=2,
        max_steps=1,
        max_length=512,
        trainer_args={"optim": "sgd", "max_grad_norm": 0.25},
    )
    run_sft(
        tiny_model_dir, tiny_dataset["sft"], tmp_path / "sft", config, extra_callbacks=[Probe()]
    )
    assert seen["optim"].lower().endswith("sgd")
    assert seen["max_grad_norm"] == 0.25
