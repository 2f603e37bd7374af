"""Training steps on the cluster keep checkpoints on the checkpoint volume
(``VLAA_CHECKPOINT_ROOT``), in a folder a retry of the same task finds again and no other run,
arm or input shares; local runs (no variable) keep them in the work folder."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fixtures.configs import tiny_sft

from vlaa.cluster import CHECKPOINT_ENV
from vlaa.components.task_io import TaskIO
from vlaa.components.training import durable_checkpoint_dir, train
from vlaa.training.config import SFTStepConfig
from vlaa.training.log import read_log


def _artifact(path: Path, uri: str) -> SimpleNamespace:
    return SimpleNamespace(path=str(path), uri=uri, metadata={})


def _io(tmp_path: Path, config: dict[str, Any], run_id: str = "run-a", model_uri: str = "m1"):
    return TaskIO(
        {
            "base_model": _artifact(tmp_path / "in", f"minio://b/{model_uri}"),
            "train_split": _artifact(tmp_path / "split", "minio://b/split"),
            "model": _artifact(tmp_path / "out" / "model", "minio://b/out"),
            "job_spec": _artifact(tmp_path / "out" / "job_spec", "minio://b/spec"),
            "config": config,
            "run_id": run_id,
        }
    )


def _folder(tmp_path: Path, config: dict[str, Any], **io: str) -> Path | None:
    parsed = SFTStepConfig.model_validate(config)
    return durable_checkpoint_dir(_io(tmp_path, config, **io), "sft", "base_model", "sft", parsed)


def test_the_folder_is_stable_per_task_and_unique_per_run_and_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHECKPOINT_ENV, str(tmp_path / "volume"))
    (tmp_path / "volume").mkdir()
    first = _folder(tmp_path, {"max_steps": 3})
    assert first is not None and first.parent == tmp_path / "volume"
    assert first.name.startswith("run-a-sft-sft-")
    assert _folder(tmp_path, {"max_steps": 3}) == first, "a retry finds its checkpoints"
    others = {
        _folder(tmp_path, {"max_steps": 4}),
        _folder(tmp_path, {"max_steps": 3}, run_id="run-b"),
        _folder(tmp_path, {"max_steps": 3}, model_uri="m2"),
    }
    assert first not in others and len(others) == 3


def test_no_volume_where_it_cannot_or_need_not_be_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    assert _folder(tmp_path, {}) is None, "local runs: the work folder"
    monkeypatch.setenv(CHECKPOINT_ENV, str(tmp_path / "not-mounted"))
    assert _folder(tmp_path, {}) is None
    (tmp_path / "not-mounted").mkdir()
    assert _folder(tmp_path, {"checkpoint_dir": str(tmp_path / "mine")}) is None
    multi_node = {"distributed": {"nodes": 2, "staging_uri": "s3://b/staging"}}
    assert _folder(tmp_path, multi_node) is None, "job pods do not mount the volume"


@pytest.mark.slow
def test_a_step_trains_on_the_volume_and_frees_it_when_done(
    tiny_model_dir: Path,
    tiny_dataset: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    monkeypatch.setenv(CHECKPOINT_ENV, str(volume))
    config = tiny_sft(2, 4, 4, save_steps=1).model_dump(mode="json")
    io = _io(tmp_path, config)
    io._arguments["base_model"].path = str(tiny_model_dir)
    io._arguments["train_split"].path = str(tiny_dataset["sft"])
    used, summary = train(io, "sft", init_model="base_model", arm="sft")
    (folder,) = volume.iterdir()
    assert used.checkpoint_dir == str(folder)
    assert summary["steps"] == 2 and Path(summary["log"]).parent == folder
    assert [row["step"] for row in read_log(Path(summary["log"]))][:2] == [1, 2]
    assert not list(folder.glob("checkpoint-*")), "checkpoints deleted once the model is saved"
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()
