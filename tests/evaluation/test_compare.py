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


def _study(tmp_path: Path) -> dict:
    accuracies = dict(zip(ARMS, (0.1, 0.2, 0.4, 0.3), strict=True))
    reports = {arm: _report(tmp_path, arm, value) for arm, value in accuracies.items()}
    models = {
        "grpo": _grpo_model(tmp_path, "grpo", [0.05] * 5 + [0.5] * 5, [20.0] * 10),
        "sft-grpo": _grpo_model(tmp_path, "sft-grpo", [0.2] * 5 + [0.35] * 5, [60.0] * 10),
    }
    return compare(reports, models, tmp_path / "out")


def test_the_page_is_html_with_a_chart_that_fits_a_laptop_screen(tmp_path: Path) -> None:
    from PIL import Image

    result = _study(tmp_path)
    page = html_page(result, Path(result["chart"]))
    assert "<table>" in page and "|---" not in page and "| arm |" not in page  # no raw Markdown
    assert "img{max-width:100%" in page  # scaled to the viewer whatever its width
    assert "<td><span class='swatch' style='background:#D55E00'></span>GRPO only</td>" in page
    with Image.open(result["chart"]) as chart:
        assert chart.width <= 1280, chart.size  # the KFP UI's viewer cut a 1600 px chart


def test_each_arm_has_one_colour_in_every_panel(tmp_path: Path) -> None:
    from PIL import Image

    from vlaa.evaluation.compare import ARM_COLOURS

    result = _study(tmp_path)
    with Image.open(result["chart"]) as chart:
        colours = {colour for _, colour in chart.convert("RGB").getcolors(1 << 20)}

    def rgb(hex_colour: str) -> tuple[int, int, int]:
        return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]

    assert {rgb(c) for c in ARM_COLOURS.values()} <= colours  # bars and curves use them
    # matplotlib's cycle colours (what each panel picked on its own before) appear nowhere.
    assert not {rgb(c) for c in ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")} & colours
