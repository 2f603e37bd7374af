"""The prepare step refuses a GPU placement KFP's driver would drop (pipelines/kubernetes.py,
GPU_COUNT): before the base model is written, in one line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from vlaa.components.prepare.runtime import run
from vlaa.stages import EVENTS_ENV, read_events


def _arguments(tmp_path: Path, **placement: object) -> dict[str, object]:
    groups = {name: {} for name in ("data", "sft", "grpo", "evaluate", "publish")}
    model = SimpleNamespace(path=str(tmp_path / "model"), metadata={})
    return {"base_model": "tiny", "grpo_init": "sft", **groups, "model": model, **placement}


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ({"gpu_count": "0"}, "gpu_count: '0' is not a positive whole number of GPUs"),
        ({"gpu_count": "two"}, "gpu_count: 'two' is not a positive whole number of GPUs"),
        ({"gpu_count": " 1"}, "gpu_count: ' 1' is not a positive whole number of GPUs"),
        ({"gpu_type": "GPU"}, "gpu_type: 'GPU' is not a Kubernetes resource name"),
    ],
)
def test_bad_placement_fails_prepare_before_the_model_is_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    placement: dict[str, str],
    message: str,
) -> None:
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events.jsonl"))
    with pytest.raises(SystemExit):
        run(_arguments(tmp_path, **placement))
    assert message in capsys.readouterr().err
    assert read_events(tmp_path / "events.jsonl")[-1]["status"] == "failed"
    assert not (tmp_path / "model").exists()


def test_good_placement_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_tiny_base: Path
) -> None:
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events.jsonl"))
    run(_arguments(tmp_path, gpu_type="amd.com/gpu", gpu_count="8"))
    assert (tmp_path / "model" / "config.json").is_file()


def test_the_component_defaults_match_the_pipelines() -> None:
    from vlaa.cluster import GPU_RESOURCE
    from vlaa.components.prepare.component import prepare
    from vlaa.pipelines.kubernetes import GPU_COUNT

    inputs = prepare.component_spec.inputs
    assert (inputs["gpu_type"].default, inputs["gpu_count"].default) == (GPU_RESOURCE, GPU_COUNT)
