"""Does GRPO learn, not just run? The default run's data, SFT and GRPO on the tiny model, seeded.

Builds the synthetic dataset and the SFT model with the ``local-cpu`` preset, runs GRPO from
the SFT model with the preset's GRPO settings, and compares the first and last ``--window``
steps: reward overall and per type, completion length, truncated share, KL and the adaptive KL
coefficient. Prints a table and writes ``bench/results/grpo_learning.json`` with the machine.
Usage: ``python bench/grpo_learning.py [--window 10] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from statistics import fmean
from typing import Any

from machine_info import machine
from rich.console import Console
from rich.table import Table

from vlaa.data.config import BuildDatasetConfig
from vlaa.data.engine import build_dataset
from vlaa.modeling.factory import make_model
from vlaa.presets import preset
from vlaa.training.config import GRPOStepConfig, SFTStepConfig
from vlaa.training.grpo import run_grpo
from vlaa.training.log import read_log
from vlaa.training.sft import run_sft

RESULTS = Path(__file__).parent / "results" / "grpo_learning.json"
KEYS = (
    "reward",
    "rewards/digit/mean",
    "rewards/mcq/mean",
    "completions/mean_length",
    "completions/clipped_ratio",
    "kl",
    "beta",
)


def window_means(log: list[dict[str, Any]], rows: slice) -> dict[str, float]:
    steps = [row for row in log if "reward" in row][rows]
    means = {}
    for key in KEYS:
        values = [row[key] for row in steps if key in row]
        if values:
            means[key] = float(f"{fmean(values):.4g}")
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=10, help="steps averaged at each end")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="vlaa-grpo-learning-"))
    settings = preset("local-cpu")

    started = time.time()
    base = make_model(work / "base", size="tiny", seed=0)
    splits = {name: work / name for name in ("sft", "rl", "eval", "card")}
    build_dataset(
        BuildDatasetConfig(**settings["data"]),
        splits["sft"],
        splits["rl"],
        splits["eval"],
        splits["card"],
    )
    sft = run_sft(base, splits["sft"], work / "sft-model", SFTStepConfig(**settings["sft"]))
    grpo_config = GRPOStepConfig(**settings["grpo"])
    grpo = run_grpo(work / "sft-model", splits["rl"], work / "grpo-model", grpo_config)
    log = read_log(Path(grpo["log"]))

    first = window_means(log, slice(0, args.window))
    last = window_means(log, slice(-args.window, None))
    table = Table(title=f"GRPO from the SFT model: first vs last {args.window} steps")
    table.add_column("metric")
    table.add_column("first", justify="right")
    table.add_column("last", justify="right")
    for key in KEYS:
        if key in first or key in last:
            table.add_row(key, str(first.get(key, "-")), str(last.get(key, "-")))
    Console().print(table)

    result = {
        "benchmark": "grpo_learning",
        "preset": "local-cpu",
        "window_steps": args.window,
        "steps": grpo["steps"],
        "first": first,
        "last": last,
        "reward_per_step": [round(row["reward"], 4) for row in log if "reward" in row],
        "sft_seconds": sft["train_seconds"],
        "grpo_seconds": grpo["train_seconds"],
        "wall_seconds": round(time.time() - started, 1),
        "grpo_config": grpo_config.model_dump(),
        "machine": machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
