"""The training and evaluation steps on the tiny model (base-model resolution:
tests/modeling/test_base_models.py).

The training / generation tests are marked slow (each well under a minute on 2 CPU cores).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from fixtures.configs import tiny_grpo, tiny_sft
from transformers import AutoModelForImageTextToText, AutoProcessor

from vlaa.evaluation.config import EvaluateStepConfig
from vlaa.evaluation.evaluate import evaluate_model
from vlaa.records import read_records, write_records
from vlaa.training.grpo import run_grpo
from vlaa.training.log import read_log
from vlaa.training.sft import run_sft

# Parameter names of the loaded model (transformers 5 layout; the files may use older names).
VISUAL_PREFIX = "model.visual."
MERGER_PREFIX = "model.visual.merger."
LANGUAGE_PREFIX = "model.language_model."


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """Every parameter of the model in ``model_dir``, loaded as transformers loads it."""
    AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    return {name: tensor.detach().clone() for name, tensor in model.named_parameters()}


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {name for name in before if not torch.equal(before[name], after[name])}


# ----------------------------------------------------------------------------- sft


@pytest.mark.slow
def test_sft_trains_the_llm_and_leaves_the_vision_encoder_frozen(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    config = tiny_sft(3, 4, 2, learning_rate=1e-3, max_length=512)
    output = tmp_path / "sft"
    summary = run_sft(tiny_model_dir, tiny_dataset["sft"], output, config)

    assert summary["steps"] == 3
    assert summary["first_loss"] is not None and summary["last_loss"] is not None
    assert [row["step"] for row in read_log(Path(summary["log"])) if "loss" in row] == [1, 2, 3]
    assert json.loads((output / "vlaa_training.json").read_text())["steps"] == 3

    before, after = _weights(tiny_model_dir), _weights(output)
    assert before.keys() == after.keys()
    changed = _changed(before, after)
    encoder = {n for n in before if n.startswith(VISUAL_PREFIX) and not n.startswith(MERGER_PREFIX)}
    assert encoder, "the vision encoder's parameter names were not found"
    assert not changed & encoder, f"frozen vision encoder changed: {sorted(changed & encoder)}"
    assert any(name.startswith(LANGUAGE_PREFIX) for name in changed)
    assert any(name.startswith(MERGER_PREFIX) for name in changed)  # the projector trains


# ----------------------------------------------------------------------------- grpo


@pytest.mark.slow
def test_grpo_logs_reward_and_kl_and_writes_a_loadable_model(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    config = tiny_grpo(2, 8, max_steps=2, learning_rate=1e-4, use_vllm="no")
    output = tmp_path / "grpo"
    summary = run_grpo(tiny_model_dir, tiny_dataset["rl"], output, config)

    assert summary["steps"] == 2
    log = [row for row in read_log(Path(summary["log"])) if "reward" in row]
    assert [row["step"] for row in log] == [1, 2]
    # One reward function per type this split holds, none for the others.
    assert {"rewards/digit/mean", "rewards/mcq/mean"} <= {key for row in log for key in row}
    for row in log:
        assert 0.0 <= row["reward"] <= 1.0
        assert "kl" in row
        # TRL logs the mean and std of each per-type reward function under its name.
        assert {"rewards/digit/mean", "rewards/mcq/mean"} & row.keys()
        assert "rewards/mixed_reward/mean" not in row  # TRL gets the per-type functions
        assert {key.split("/")[1] for key in row if key.startswith("rewards/")} <= {
            "mixed_reward",
            "digit",
            "mcq",
        }  # the types this split holds
    assert summary["reward_first"] is not None and summary["reward_last"] is not None
    assert 0.0 <= summary["reward_first"] <= 1.0
    # A base model carries no training record; an SFT model's would ride along (the card).
    assert summary["stage"] == "grpo" and summary["init_training"] is None
    # Loadable. A random model earns no reward, so every advantage is 0 and the weights do not
    # move: this test checks the plumbing; the SFT test checks what trains and what is frozen.
    assert set(_weights(output)) == set(_weights(tiny_model_dir))


@pytest.mark.slow
def test_grpo_scores_open_samples_with_a_reward_model_and_draws_curves(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    """Open-ended samples go to the reward model; the KL coefficient adapts and is logged."""
    from fixtures.tiny_reward_model import make_tiny_reward_model

    split = tmp_path / "rl-open"
    shutil.copytree(tiny_dataset["rl"], split)
    records = list(read_records(split / "records.jsonl"))
    for record in records[::2]:
        record.reward_type = "open"
        record.answer = "a short description of the scene"
    write_records(split / "records.jsonl", records)
    reward_model = str(make_tiny_reward_model(tmp_path / "rm"))
    config = tiny_grpo(4, 16, max_steps=2, open_reward_model=reward_model, kl_target=1e-6)
    summary = run_grpo(tiny_model_dir, split, tmp_path / "grpo", config)

    log = [row for row in read_log(Path(summary["log"])) if "reward" in row]
    assert any("rewards/open/mean" in row for row in log)
    assert all("beta" in row for row in log)
    assert summary["final_beta"] != pytest.approx(config.beta)
    assert Path(summary["curves"]).read_bytes().startswith(b"\x89PNG")


# ----------------------------------------------------------------------------- evaluate


@pytest.mark.slow
def test_evaluate_reports_accuracy_format_rate_and_per_type_accuracy(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path]
) -> None:
    config = EvaluateStepConfig(max_new_tokens=16, batch_size=10, max_samples=20)
    report = evaluate_model(tiny_model_dir, tiny_dataset["eval"], config)

    metrics, samples = report.metrics, report.samples
    assert len(samples) == 20
    assert {"accuracy", "format_rate", "mean_completion_chars", "num_samples"} <= metrics.keys()
    assert metrics["num_samples"] == 20
    kinds = {row["reward_type"] for row in samples}
    assert {f"accuracy_{kind}" for kind in kinds} <= metrics.keys()
    for key in ("accuracy", "format_rate", *(f"accuracy_{kind}" for kind in kinds)):
        assert 0.0 <= metrics[key] <= 1.0
    for row in samples:
        assert row["score"] in (0.0, 1.0)
        assert isinstance(row["completion"], str)
