"""The SFT-vs-RL comparison: one table and one figure over the study's arms.

The paper's question is "SFT or RL?": Table 3 compares the arms' benchmark scores and Figure 5
shows that GRPO from the SFT model starts at a higher reward but ends lower, with longer
responses. This step reads each arm's evaluation report and the GRPO arms' training logs and
draws exactly that: accuracy per arm (overall and per reward type) and the two GRPO arms'
reward and response-length curves.

Light at import (``vlaa.pipelines.local_run`` imports ``ARMS``): matplotlib and the training
log helpers (transformers) are imported where they are used.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from vlaa.evaluation.report import EvalReport, read_report
from vlaa.training.log import TRAIN_LOG_IN_MODEL, first_last_means, read_log

# The arms of the study, in the paper's order.
ARMS: tuple[str, ...] = ("base", "sft", "grpo", "sft-grpo")
ARM_TITLES = {
    "base": "base model",
    "sft": "SFT only",
    "grpo": "GRPO only",
    "sft-grpo": "SFT, then GRPO",
}

# What the paper reports for the same comparison, shown next to our numbers.
PAPER_FINDINGS = (
    "Qwen2.5-VL-3B, average of six benchmarks: GRPO only 34.49; 5K SFT + GRPO 20.98; "
    "10K SFT + GRPO 21.78.",
    "Qwen2-VL-7B-Instruct: SFT then GRPO 19.8 vs GRPO only 32.5 (average).",
    "SFT-initialised GRPO starts at a higher reward (~0.20 vs ~0.05) but ends lower "
    "(~0.35 vs ~0.5), with longer responses.",
)


# Shown next to the accuracies: does the arm answer in format, and how long are its answers.
FORMAT_METRICS = ("format_rate", "mean_completion_chars")


def accuracy_table(reports: dict[str, EvalReport]) -> dict[str, dict[str, float]]:
    """``{arm: {metric: value}}`` for the accuracy-like metrics of each arm's eval report."""
    table: dict[str, dict[str, float]] = {}
    for arm, report in reports.items():
        accuracies = report.accuracy_scores
        table[arm] = {
            key: value
            for key, value in report.numeric_metrics().items()
            if key in accuracies or key in FORMAT_METRICS
        }
    return table


def curve(log: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    rows = [row for row in log if isinstance(row.get(key), int | float) and "reward" in row]
    return [int(row["step"]) for row in rows], [float(row[key]) for row in rows]


# One colour per arm in every panel (bars and curves alike), colour-blind safe (Okabe-Ito).
ARM_COLOURS = {"base": "#999999", "sft": "#0072B2", "grpo": "#D55E00", "sft-grpo": "#009E73"}
# The GRPO training curves drawn per arm: (log key, panel title).
CURVE_PANELS = (
    ("reward", "GRPO reward"),
    ("completions/mean_length", "GRPO response length (tokens)"),
    ("kl", "GRPO KL to the initial model"),
)
# 2 x 2 panels of 5 x 3.4 inches at 100 dpi: a 1000 x 720 px chart, narrower than a laptop
# screen; the page also scales it down (max-width: 100%).
FIGURE_INCHES = (10.0, 7.2)
FIGURE_DPI = 100

# The GRPO arms' curves kept in comparison.json (the paper's Figure 5 reads off these three).
CURVE_KEYS = {"reward": "reward", "length": "completions/mean_length", "kl": "kl"}


def curves(log: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """``{name: {"step": [...], "value": [...]}}`` for reward, response length and KL."""
    out = {}
    for name, key in CURVE_KEYS.items():
        steps, values = curve(log, key)
        out[name] = {"step": steps, "value": values}
    return out


def draw(
    table: dict[str, dict[str, float]], logs: dict[str, list[dict[str, Any]]], path: Path
) -> Path:
    """Accuracy per arm (bars) and the GRPO arms' reward, length and KL (lines); one legend
    for the whole figure, below the panels, so it covers no bar or line."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training pods
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    figure, grid = plt.subplots(2, 2, figsize=FIGURE_INCHES)
    axes = list(grid.flat)
    arms = [arm for arm in ARMS if arm in table]
    metric_names = sorted({key for row in table.values() for key in row if key.startswith("acc")})
    width = 0.8 / max(1, len(arms))
    for index, arm in enumerate(arms):
        values = [table[arm].get(name, 0.0) for name in metric_names]
        positions = [m + index * width for m in range(len(metric_names))]
        axes[0].bar(positions, values, width=width, color=ARM_COLOURS[arm])
    axes[0].set_xticks([m + width * (len(arms) - 1) / 2 for m in range(len(metric_names))])
    axes[0].set_xticklabels([name.replace("accuracy_", "") for name in metric_names])
    axes[0].set_ylabel("accuracy")
    axes[0].set_title("Eval accuracy per arm")
    for axis, (key, title) in zip(axes[1:], CURVE_PANELS, strict=True):
        for arm, log in logs.items():
            steps, values = curve(log, key)
            if steps:
                axis.plot(steps, values, color=ARM_COLOURS[arm])
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    shown = [arm for arm in ARMS if arm in table or arm in logs]
    handles = [Patch(color=ARM_COLOURS[arm], label=ARM_TITLES[arm]) for arm in shown]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=FIGURE_DPI)
    plt.close(figure)
    return path


def compare(
    reports: dict[str, Path], grpo_models: dict[str, Path], output_dir: Path
) -> dict[str, Any]:
    """Write ``comparison.json``, ``comparison.png`` and ``comparison.md`` in ``output_dir``."""
    loaded = {arm: read_report(path) for arm, path in reports.items()}
    logs = {arm: read_log(folder / TRAIN_LOG_IN_MODEL) for arm, folder in grpo_models.items()}
    table = accuracy_table(loaded)
    dynamics = {}
    for arm, log in logs.items():
        reward_first, reward_last = first_last_means(log, "reward")
        length_first, length_last = first_last_means(log, "completions/mean_length")
        kl_first, kl_last = first_last_means(log, "kl")
        dynamics[arm] = {
            "reward_first": reward_first,
            "reward_last": reward_last,
            "length_first": length_first,
            "length_last": length_last,
            "kl_first": kl_first,
            "kl_last": kl_last,
        }
    output_dir.mkdir(parents=True, exist_ok=True)
    chart = draw(table, logs, output_dir / "comparison.png")
    result = {
        "accuracy": table,
        "grpo_dynamics": dynamics,
        "curves": {arm: curves(log) for arm, log in logs.items()},
        "paper": list(PAPER_FINDINGS),
    }
    (output_dir / "comparison.json").write_text(json.dumps(result, indent=2))
    (output_dir / "comparison.md").write_text(markdown(result))
    result["chart"] = str(chart)
    return result


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(result: dict[str, Any]) -> str:
    """The comparison as Markdown tables (the KFP UI renders Markdown artifacts)."""
    table: dict[str, dict[str, float]] = result["accuracy"]
    columns = sorted({key for row in table.values() for key in row})
    lines = ["# SFT or RL? Comparison of the study's arms", ""]
    lines.append("| arm | " + " | ".join(columns) + " |")
    lines.append("|---|" + "---:|" * len(columns))
    for arm in ARMS:
        if arm in table:
            cells = " | ".join(_cell(table[arm].get(column)) for column in columns)
            lines.append(f"| {ARM_TITLES[arm]} | {cells} |")
    lines += ["", "## GRPO dynamics (mean of the first / last 5 steps)", ""]
    lines.append("| GRPO arm | reward first | reward last | length first | length last |")
    lines.append("|---|---:|---:|---:|---:|")
    for arm, row in result["grpo_dynamics"].items():
        values = (row["reward_first"], row["reward_last"], row["length_first"], row["length_last"])
        lines.append(f"| {ARM_TITLES[arm]} | " + " | ".join(_cell(v) for v in values) + " |")
    lines += ["", "## What the paper reports", ""]
    lines += [f"- {finding}" for finding in result["paper"]]
    return "\n".join(lines) + "\n"


def _html_table(header: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """A table whose first column names the arm with its chart colour."""
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        f"<tr><td><span class='swatch' style='background:{ARM_COLOURS[arm]}'></span>"
        f"{html.escape(ARM_TITLES[arm])}</td>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
        + "</tr>"
        for arm, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PAGE_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}"
    "img{max-width:100%;height:auto}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em}td{text-align:right}"
    "td:first-child{text-align:left}"
    ".swatch{display:inline-block;width:.8em;height:.8em;margin-right:.4em}"
)


def html_page(result: dict[str, Any], chart: Path) -> str:
    """One self-contained page for the KFP UI's HTML viewer: the chart (scaled to the page)
    and the tables as HTML, each arm named with its chart colour."""
    encoded = base64.b64encode(chart.read_bytes()).decode("ascii")
    table: dict[str, dict[str, float]] = result["accuracy"]
    columns = sorted({key for row in table.values() for key in row})
    arm_rows = [
        (arm, [_cell(table[arm].get(column)) for column in columns]) for arm in ARMS if arm in table
    ]
    dynamic_keys = ("reward_first", "reward_last", "length_first", "length_last")
    dynamics = [
        (arm, [_cell(row[key]) for key in dynamic_keys])
        for arm, row in result["grpo_dynamics"].items()
    ]
    accuracy_html = _html_table(["arm", *columns], arm_rows)
    dynamics_html = _html_table(
        ["GRPO arm", "reward first", "reward last", "length first", "length last"], dynamics
    )
    findings = "".join(f"<li>{html.escape(item)}</li>" for item in result["paper"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>SFT or RL?</title>"
        f"<style>{PAGE_STYLE}</style></head><body>"
        "<h1>SFT or RL? Comparison of the study's arms</h1>"
        f"<img alt='accuracy per arm and GRPO curves' src='data:image/png;base64,{encoded}'>"
        f"<h2>Eval metrics per arm</h2>{accuracy_html}"
        f"<h2>GRPO dynamics (mean of the first / last 5 steps)</h2>{dynamics_html}"
        f"<h2>What the paper reports</h2><ul>{findings}</ul></body></html>"
    )
