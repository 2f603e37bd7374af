"""The SFT-vs-RL study: the compare step, the compiled pipeline, and a local end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from vlaa.components.compare.step import ARMS, compare, html_page
from vlaa.parameters import validate_parameters
from vlaa.pipelines.compile import compile_pipeline
from vlaa.pipelines.kubernetes import CLUSTER_PARAMETERS
from vlaa.stages import EVENTS_ENV
from vlaa.training.common import TRAIN_LOG_IN_MODEL


def _report(tmp_path: Path, arm: str, accuracy: float) -> Path:
    path = tmp_path / f"{arm}.json"
    metrics = {"accuracy": accuracy, "accuracy_mcq": accuracy / 2, "format_rate": 1.0}
    path.write_text(json.dumps({"metrics": metrics, "samples": []}))
    return path


def _grpo_model(tmp_path: Path, arm: str, rewards: list[float], lengths: list[float]) -> Path:
    folder = tmp_path / f"model-{arm}"
    folder.mkdir()
    rows = [
        {"step": step, "reward": reward, "completions/mean_length": length}
        for step, (reward, length) in enumerate(zip(rewards, lengths, strict=True), start=1)
    ]
    rows.append({"step": len(rows), "train_runtime": 1.0})  # the trainer's closing row
    (folder / TRAIN_LOG_IN_MODEL).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_compare_tabulates_every_arm_and_the_grpo_dynamics(tmp_path: Path) -> None:
    accuracies = dict(zip(ARMS, (0.1, 0.2, 0.4, 0.3), strict=True))
    reports = {arm: _report(tmp_path, arm, value) for arm, value in accuracies.items()}
    models = {
        "grpo": _grpo_model(tmp_path, "grpo", [0.05] * 5 + [0.5] * 5, [20.0] * 10),
        "sft-grpo": _grpo_model(tmp_path, "sft-grpo", [0.2] * 5 + [0.35] * 5, [60.0] * 10),
    }
    result = compare(reports, models, tmp_path / "out")

    assert result["accuracy"]["grpo"]["accuracy"] == 0.4
    assert result["accuracy"]["sft"]["accuracy_mcq"] == 0.1
    assert result["grpo_dynamics"]["grpo"] == {
        "reward_first": 0.05,
        "reward_last": 0.5,
        "length_first": 20.0,
        "length_last": 20.0,
    }
    assert result["grpo_dynamics"]["sft-grpo"]["reward_first"] == 0.2
    markdown = (tmp_path / "out" / "comparison.md").read_text()
    assert "| GRPO only | 0.400 |" in markdown
    assert "| SFT, then GRPO | 0.200 | 0.350 | 60.000 | 60.000 |" in markdown
    assert (tmp_path / "out" / "comparison.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["paper"]
    assert "data:image/png;base64," in html_page(result, Path(result["chart"]))


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
    return {
        "base_model": "tiny",
        "data": {"num_samples": 60, "eval_size": 10, "seed": 0},
        "sft": {"max_steps": 2, "global_batch_size": 4, "per_device_batch_size": 4},
        "grpo": {
            "max_steps": 2,
            "rollout_batch_prompts": 2,
            "train_batch_completions": 8,
            "per_device_batch_size": 8,
            "max_completion_length": 16,
            "use_vllm": "no",
        },
        "evaluate": {"max_new_tokens": 8},
    }


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
