"""Resume edge cases: a damaged ``trainer_state.json`` makes its checkpoint incomplete (the run
falls back to the previous one), every checkpoint file (the KL controller's state included) is
written before that completeness marker, and ``max_steps`` holds across resumes."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from fixtures.configs import tiny_grpo, tiny_sft
from transformers import TrainerCallback

from vlaa.training.checkpoints import COMPLETE_MARKER, finished_at, last_complete_checkpoint
from vlaa.training.grpo import run_grpo
from vlaa.training.log import read_log
from vlaa.training.sft import run_sft

# ----------------------------------------------------------------------------- fast


def _checkpoint(root: Path, step: int, state: str | None) -> Path:
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if state is not None:
        (folder / COMPLETE_MARKER).write_text(state)
    return folder


@pytest.mark.parametrize(
    "damage",
    [
        "",  # created, killed before the first byte
        '{"global_step": 4, "max_st',  # cut off mid-write
        "\xff\xfe",  # not text
        "[]",  # not a trainer state
        '{"global_step": 2}',  # another step's state
    ],
)
def test_a_damaged_marker_falls_back_to_the_previous_checkpoint(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    previous = _checkpoint(tmp_path, 2, json.dumps({"global_step": 2}))
    _checkpoint(tmp_path, 4, damage)
    with caplog.at_level(logging.WARNING, "vlaa.training.checkpoints"):
        assert last_complete_checkpoint(tmp_path) == previous
    assert "skipping incomplete checkpoint" in caplog.text
    assert "checkpoint-4" in caplog.text


def test_finished_means_the_run_s_last_step(tmp_path: Path) -> None:
    state = {"global_step": 4, "max_steps": 4}
    checkpoint = _checkpoint(tmp_path, 4, json.dumps(state))
    assert finished_at(checkpoint, 4)
    assert not finished_at(checkpoint, 6), "a raised max_steps trains on"
    assert finished_at(checkpoint, -1), "epoch-based: the run's own computed step count"
    assert not finished_at(_checkpoint(tmp_path, 2, json.dumps({"global_step": 2})), -1)


# ----------------------------------------------------------------------------- training


class MarkerWrittenLast(TrainerCallback):
    """``on_save`` runs after ``Trainer._save_checkpoint``: by then nothing may be newer than
    the completeness marker (a later write could be lost to a kill after the marker)."""

    def __init__(self) -> None:
        self.late: list[str] = []
        self.checked = 0

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        marker = (folder / COMPLETE_MARKER).stat().st_mtime_ns
        self.late += [p.name for p in folder.iterdir() if p.stat().st_mtime_ns > marker]
        self.checked += 1


GRPO = {"max_steps": 2, "save_steps": 1, "kl_target": 1e-6, "kl_horizon": 100, "use_vllm": "no"}


@pytest.mark.slow
def test_grpo_resume_edge_cases(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    config = tiny_grpo(2, 8, **GRPO)
    work, out = tmp_path / "work", tmp_path / "out"
    probe = MarkerWrittenLast()
    reference = run_grpo(
        tiny_model_dir, tiny_dataset["rl"], out, config, work_dir=work, extra_callbacks=[probe]
    )
    assert probe.checked == 2 and probe.late == []
    state = json.loads((work / "checkpoint-2" / COMPLETE_MARKER).read_text())
    saved_beta = state["stateful_callbacks"]["AdaptiveKLCallback"]["attributes"]["value"]
    assert saved_beta == pytest.approx(reference["final_beta"]) != pytest.approx(1e-3)
    snapshot = tmp_path / "reference-work"
    shutil.copytree(work, snapshot)

    # Killed after the final checkpoint, before the model was written: nothing left to train.
    shutil.rmtree(out)
    finished = run_grpo(tiny_model_dir, tiny_dataset["rl"], out, config, work_dir=work)
    assert finished["resumed_from_step"] == 2
    assert finished["steps"] == 2
    assert max(row["step"] for row in read_log(Path(finished["log"]))) == 2
    assert finished["final_beta"] == pytest.approx(reference["final_beta"], rel=1e-12)
    assert (out / "model.safetensors").is_file()

    # The final checkpoint's marker is empty (killed while writing it): resume from step 1,
    # with step 1's KL coefficient, and end where the uninterrupted run ended.
    shutil.rmtree(work)
    shutil.copytree(snapshot, work)
    (work / "checkpoint-2" / COMPLETE_MARKER).write_text("")
    resumed = run_grpo(tiny_model_dir, tiny_dataset["rl"], tmp_path / "out2", config, work)
    assert resumed["resumed_from_step"] == 1
    assert resumed["steps"] == 2
    assert resumed["final_beta"] == pytest.approx(reference["final_beta"], rel=1e-9)


@pytest.mark.slow
def test_a_finished_sft_run_does_not_train_further(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    config = tiny_sft(1, 4, 4, save_steps=1)
    work, out = tmp_path / "work", tmp_path / "out"
    first = run_sft(tiny_model_dir, tiny_dataset["sft"], out, config, work_dir=work)
    weights = (out / "model.safetensors").read_bytes()
    shutil.rmtree(out)
    again = run_sft(tiny_model_dir, tiny_dataset["sft"], out, config, work_dir=work)
    assert (again["resumed_from_step"], again["steps"], first["steps"]) == (1, 1, 1)
    assert [row["step"] for row in read_log(Path(again["log"])) if "loss" in row] == [1]
    assert (out / "model.safetensors").read_bytes() == weights
