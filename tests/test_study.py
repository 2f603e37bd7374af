"""The SFT-vs-RL study: the compiled pipeline and a local end-to-end run (the compare step's
own test is tests/evaluation/test_compare.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.configs import tiny_run_parameters

from vlaa.evaluation.compare import ARMS
from vlaa.parameters import validate_parameters
from vlaa.pipelines.compile import compile_pipeline
from vlaa.pipelines.kubernetes import CLUSTER_PARAMETERS
from vlaa.stages import EVENTS_ENV


def test_compiled_study_runs_every_arm_from_one_dataset(tmp_path: Path) -> None:
    path = compile_pipeline("vlaa-sft-vs-rl", tmp_path / "s.yaml")
    spec = next(yaml.safe_load_all(path.read_text()))
    tasks = spec["root"]["dag"]["tasks"]
    by_component = {}
    for name, task in tasks.items():
        by_component.setdefault(task["componentRef"]["name"], []).append(name)
    assert len(by_component["comp-build-dataset"]) == 1
    assert len([n for n in tasks if n.startswith("evaluate")]) == 4
    assert len([n for n in tasks if n.startswith("grpo")]) == 2
    assert len([n for n in tasks if n.startswith("sft")]) == 1
    compare_inputs = tasks["compare"]["inputs"]["artifacts"]
    assert set(compare_inputs) == {
        "base_report",
        "sft_report",
        "grpo_report",
        "sft_grpo_report",
        "grpo_model",
        "sft_grpo_model",
    }
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {
        "base_model",
        "data",
        "sft",
        "grpo",
        "evaluate",
        *CLUSTER_PARAMETERS,
    }


def _tiny_study_parameters() -> dict[str, Any]:
    return tiny_run_parameters()


@pytest.mark.slow
def test_local_study_run_compares_all_four_arms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlaa.pipelines.local_run import run_local

    monkeypatch.delenv(EVENTS_ENV, raising=False)
    summary = run_local(validate_parameters(_tiny_study_parameters()), tmp_path, "sft-vs-rl")

    assert summary["pipeline"] == "vlaa-sft-vs-rl"
    statuses = {stage["name"]: stage["status"] for stage in summary["stages"]}
    expected = [
        "prepare",
        "build_dataset",
        "sft",
        "grpo-from-base",
        "grpo-from-sft",
        "compare",
        *(f"evaluate-{arm}" for arm in ARMS),
    ]
    assert statuses == dict.fromkeys(expected, "succeeded")
    for arm in ARMS:
        assert 0.0 <= summary["metrics"][f"accuracy_{arm}"] <= 1.0
    report = Path(summary["artifacts"]["compare.report"]).read_text()
    for title in ("base model", "SFT only", "GRPO only", "SFT, then GRPO"):
        assert f"| {title} |" in report
