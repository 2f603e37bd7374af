"""The compare step of the SFT-vs-RL study: the arms' accuracy table and the GRPO dynamics."""

from __future__ import annotations

import json
from pathlib import Path

from vlaa.evaluation.compare import ARMS, compare, html_page
from vlaa.training.log import TRAIN_LOG_IN_MODEL


def _report(tmp_path: Path, arm: str, accuracy: float) -> Path:
    path = tmp_path / f"{arm}.json"
    metrics = {"accuracy": accuracy, "accuracy_mcq": accuracy / 2, "format_rate": 1.0}
    path.write_text(json.dumps({"metrics": metrics, "samples": []}))
    return path


def _grpo_model(tmp_path: Path, arm: str, rewards: list[float], lengths: list[float]) -> Path:
    folder = tmp_path / f"model-{arm}"
    folder.mkdir()
    rows = [
        {"step": step, "reward": reward, "completions/mean_length": length, "kl": step / 100}
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
        "kl_first": 0.03,
        "kl_last": 0.08,
    }
    curves = result["curves"]["sft-grpo"]
    assert set(curves) == {"reward", "length", "kl"}
    assert curves["reward"]["step"] == list(range(1, 11))
    assert curves["kl"]["value"][-1] == 0.1 and curves["length"]["value"][0] == 60.0
    assert result["grpo_dynamics"]["sft-grpo"]["reward_first"] == 0.2
    markdown = (tmp_path / "out" / "comparison.md").read_text()
    assert "| GRPO only | 0.400 |" in markdown
    assert "| SFT, then GRPO | 0.200 | 0.350 | 60.000 | 60.000 |" in markdown
    assert (tmp_path / "out" / "comparison.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["paper"]
    assert "data:image/png;base64," in html_page(result, Path(result["chart"]))
