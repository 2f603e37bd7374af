"""A training run SIGKILLed between steps resumes from its last checkpoint and ends where an
uninterrupted run ends: same step count, same logged learning rates (and, for GRPO, rewards and
KL coefficient), same weights (which needs the optimizer, scheduler, RNG and KL-controller
state all restored)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vlaa.training.config import GRPOStepConfig, SFTStepConfig
from vlaa.training.grpo import run_grpo
from vlaa.training.log import read_log
from vlaa.training.sft import run_sft

pytestmark = pytest.mark.slow

CONFIG = {
    "rollout_batch_prompts": 4,
    "train_batch_completions": 16,
    "per_device_batch_size": 16,
    "max_steps": 4,
    "save_steps": 2,
    # Long enough for the SFT model to reach its <answer>: rewards > 0, so the weights move.
    "max_completion_length": 64,
    "learning_rate": 1e-3,
    "min_learning_rate": 1e-4,
    "warmup_ratio": 0.0,
    # A target far from the measured KL so the coefficient moves every step.
    "kl_target": 1e-6,
    "kl_horizon": 100,
}

SFT_CONFIG = {
    "learning_rate": 1e-3,
    "global_batch_size": 8,
    "per_device_batch_size": 8,
    "max_steps": 4,
    "save_steps": 2,
    "warmup_ratio": 0.0,
}

# Runs the real step in a child process; after step 3 it reports and blocks, so the parent's
# SIGKILL lands between steps, after checkpoint-2 and before checkpoint-4.
CHILD = """
import sys, time
from pathlib import Path
from transformers import TrainerCallback
from vlaa.training.config import GRPOStepConfig
from vlaa.training.grpo import run_grpo
from vlaa.training.config import SFTStepConfig
from vlaa.training.sft import run_sft

step, model, data, out, work, marker, config = sys.argv[1:8]
run, config_type = (run_grpo, GRPOStepConfig) if step == "grpo" else (run_sft, SFTStepConfig)

class BlockAfterStep3(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            Path(marker).write_text("3")
            time.sleep(600)

run(Path(model), Path(data), Path(out), config_type.model_validate_json(config),
    work_dir=Path(work), extra_callbacks=[BlockAfterStep3()])
"""


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(model_dir.glob("*.safetensors")):
        tensors.update(load_file(shard))
    return tensors


def _assert_trained(init_dir: Path, trained: dict[str, torch.Tensor]) -> None:
    """Guard: if training left the weights where they started, equal weights prove nothing."""
    initial = _weights(init_dir)
    assert any(not torch.equal(initial[name], trained[name]) for name in trained if name in initial)


def _kill_after_step_3(
    step: str, config: dict, model: Path, data: Path, out: Path, work: Path
) -> None:
    marker = work.parent / "killed-after.txt"
    args = [step, str(model), str(data), str(out), str(work), str(marker), json.dumps(config)]
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args], env=os.environ.copy())
    deadline = time.monotonic() + 300
    while not marker.exists():
        if child.poll() is not None:
            pytest.fail(f"training child exited with {child.returncode} before step 3")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("training child did not reach step 3 in 300 s")
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def test_killed_grpo_run_resumes_to_the_same_result(
    tiny_sft_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    tiny_model_dir = tiny_sft_model_dir
    config = GRPOStepConfig.model_validate(CONFIG)
    reference = run_grpo(
        tiny_model_dir, tiny_dataset["rl"], tmp_path / "ref", config, work_dir=tmp_path / "ref-w"
    )
    rewards = [row["reward"] for row in read_log(Path(reference["log"])) if "reward" in row]
    assert max(rewards) > 0, "no reward: the weights would not move and the test proves nothing"

    work = tmp_path / "killed-w"
    _kill_after_step_3(
        "grpo", CONFIG, tiny_model_dir, tiny_dataset["rl"], tmp_path / "killed", work
    )
    assert (work / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (work / "checkpoint-4").exists()
    assert not (tmp_path / "killed").exists(), "the killed run must not have published a model"

    resumed = run_grpo(
        tiny_model_dir, tiny_dataset["rl"], tmp_path / "killed", config, work_dir=work
    )

    assert resumed["resumed_from_step"] == 2
    assert resumed["steps"] == reference["steps"] == 4
    log = read_log(Path(resumed["log"]))
    reference_log = read_log(Path(reference["log"]))
    steps = [row["step"] for row in log if "reward" in row]
    assert steps == [1, 2, 3, 4], "each step logged once: rows after the checkpoint rewritten"
    for key in ("learning_rate", "beta", "reward", "kl"):
        got = [row[key] for row in log if key in row]
        want = [row[key] for row in reference_log if key in row]
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7), key
    assert resumed["final_beta"] == pytest.approx(reference["final_beta"], rel=1e-9)
    assert resumed["final_beta"] != pytest.approx(1e-3), "the KL controller never moved"

    want_weights = _weights(tmp_path / "ref")
    got_weights = _weights(tmp_path / "killed")
    assert want_weights.keys() == got_weights.keys()
    _assert_trained(tiny_model_dir, want_weights)
    for name, tensor in want_weights.items():
        torch.testing.assert_close(got_weights[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


def test_killed_sft_run_resumes_to_the_same_result(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    config = SFTStepConfig.model_validate(SFT_CONFIG)
    reference = run_sft(
        tiny_model_dir, tiny_dataset["sft"], tmp_path / "ref", config, work_dir=tmp_path / "ref-w"
    )
    work = tmp_path / "killed-w"
    _kill_after_step_3(
        "sft", SFT_CONFIG, tiny_model_dir, tiny_dataset["sft"], tmp_path / "killed", work
    )
    assert (work / "checkpoint-2" / "trainer_state.json").is_file()

    resumed = run_sft(
        tiny_model_dir, tiny_dataset["sft"], tmp_path / "killed", config, work_dir=work
    )

    assert resumed["resumed_from_step"] == 2
    assert resumed["steps"] == reference["steps"] == 4
    log = read_log(Path(resumed["log"]))
    reference_log = read_log(Path(reference["log"]))
    assert [row["step"] for row in log if "loss" in row] == [1, 2, 3, 4]
    for key in ("learning_rate", "loss"):
        got = [row[key] for row in log if key in row and "train_runtime" not in row]
        want = [row[key] for row in reference_log if key in row and "train_runtime" not in row]
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7), key
    want_weights = _weights(tmp_path / "ref")
    got_weights = _weights(tmp_path / "killed")
    _assert_trained(tiny_model_dir, want_weights)
    for name, tensor in want_weights.items():
        torch.testing.assert_close(got_weights[name], tensor, rtol=1e-5, atol=1e-6, msg=name)
