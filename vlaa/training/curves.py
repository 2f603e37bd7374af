"""Reward / KL / response-length curves of a training log, as a PNG and a KFP HTML page.

The paper's finding (SFT-initialised GRPO starts higher but ends lower, with longer responses)
is read off exactly these three curves, so every GRPO run draws them.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on training pods
import matplotlib.pyplot as plt

PER_TYPE_REWARD = re.compile(r"^rewards/(digit|mcq|math|iou|open)/mean$")

# (panel title, y label, [(log key, legend label)])
PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Reward", "mean reward", [("reward", "overall")]),
    ("KL to the reference", "KL", [("kl", "kl")]),
    ("Response length", "tokens", [("completions/mean_length", "mean length")]),
]


def _series(log: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    rows = [row for row in log if isinstance(row.get(key), int | float)]
    return [int(row["step"]) for row in rows], [float(row[key]) for row in rows]


def per_type_reward_keys(log: list[dict[str, Any]]) -> list[str]:
    return sorted({key for row in log for key in row if PER_TYPE_REWARD.match(key)})


def plot_curves(log: list[dict[str, Any]], path: Path, title: str = "GRPO") -> Path:
    """Draw reward (overall and per type), KL and completion length against the step."""
    figure, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.6))
    for axis, (panel, ylabel, lines) in zip(axes, PANELS, strict=True):
        if panel == "Reward":
            lines = lines + [(key, key.split("/")[1]) for key in per_type_reward_keys(log)]
        drawn = False
        for key, label in lines:
            steps, values = _series(log, key)
            if steps:
                axis.plot(steps, values, marker=".", label=label)
                drawn = True
        axis.set_title(panel)
        axis.set_xlabel("step")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        if drawn and len(lines) > 1:
            axis.legend(fontsize=8)
        if not drawn:
            axis.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axis.transAxes)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def curves_html(png: Path, title: str, summary: dict[str, Any]) -> str:
    """A self-contained page (image inlined) the KFP UI shows for an HTML artifact."""
    encoded = base64.b64encode(png.read_bytes()).decode("ascii")
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "</head><body style='font-family:sans-serif'>"
        f"<h2>{html.escape(title)}</h2>"
        f"<img alt='training curves' src='data:image/png;base64,{encoded}'>"
        f"<table>{rows}</table></body></html>"
    )
