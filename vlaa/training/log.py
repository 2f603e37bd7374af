"""The training log: one JSON line per trainer log (step, loss, reward, KL, ...), torch-free.

The SFT and GRPO steps write it (``common.JsonlLogCallback``); the study's comparison, the
components' metrics and the benchmarks read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean
from typing import Any

# The training log travels inside the model folder: lineage for the published card, and the
# curves the SFT-vs-RL comparison draws.
TRAIN_LOG_IN_MODEL = "vlaa_train_log.jsonl"


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def keep_log_until(log_path: Path, step: int) -> None:
    """Drop training-log rows a resumed run writes again (those after its checkpoint)."""
    kept = [row for row in read_log(log_path) if row.get("step", 0) <= step]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("".join(json.dumps(row) + "\n" for row in kept))


def first_last_means(
    log: list[dict[str, Any]], key: str, window: int = 5
) -> tuple[float | None, float | None]:
    """Mean of ``key`` over the first and the last ``window`` rows that log it (a shorter
    window for short logs, so the two ends never overlap)."""
    values = [float(row[key]) for row in log if isinstance(row.get(key), int | float)]
    if not values:
        return None, None
    window = max(1, min(window, len(values) // 2 or 1))
    return round(fmean(values[:window]), 4), round(fmean(values[-window:]), 4)
