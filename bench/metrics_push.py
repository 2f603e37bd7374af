"""Metrics pushes against faulty Pushgateways: one push, and a short tiny-model SFT run.

Gateways are real loopback socket servers (tests/support/slow_gateways.py): a black hole
(accepts, never answers) and a drip (answers one byte per ``--drip-interval`` seconds).

1. One push to the drip gateway: prometheus_client's own transport (``default_handler``, whose
   timeout is per socket read) against ``vlaa.observability.pushing.deadline_handler``.
2. ``--repeats`` rounds of a 3-step SFT run of the tiny model with a push per step, with no
   gateway, the black hole and the drip (interleaved, so machine load hits all alike): the
   loop's wall time, the longest time one log hook held the training thread, and the end of
   training's wait for the last push. Medians (and the loop's minimum) are reported.

Writes ``bench/results/metrics_push.json`` with the machine. Usage:
``python bench/metrics_push.py [--repeats 3] [--drip-interval 1.0] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

from machine_info import machine

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))  # the gateways and the run

from prometheus_client import push_to_gateway
from prometheus_client.exposition import default_handler
from support.slow_gateways import black_hole_gateway, drip_gateway, elapsed
from support.timed_training import PUSH_DEADLINE, STEPS, sft_run

from vlaa.data.config import BuildDatasetConfig
from vlaa.data.engine import build_dataset
from vlaa.modeling.factory import make_model
from vlaa.observability import TrainingMetrics
from vlaa.observability.pushing import Pusher

RESULTS = Path(__file__).parent / "results" / "metrics_push.json"


def single_push(drip_interval: float) -> dict[str, Any]:
    metrics = TrainingMetrics("bench", "sft", "base")
    with drip_gateway(drip_interval) as url:
        legacy_seconds, _ = elapsed(
            lambda: push_to_gateway(
                url, job="vlaa", registry=metrics.registry, timeout=PUSH_DEADLINE,
                handler=default_handler,
            )
        )  # fmt: skip
        pusher = Pusher(url, metrics, timeout=PUSH_DEADLINE)
        seconds, ok = elapsed(pusher.push)
    return {
        "drip_interval_seconds": drip_interval,
        "timeout_seconds": PUSH_DEADLINE,
        "per_read_timeout_push_seconds": round(legacy_seconds, 3),
        "per_read_timeout_push_succeeded": True,  # it returned without raising
        "total_deadline_push_seconds": round(seconds, 3),
        "total_deadline_push_succeeded": ok,
    }


def training_runs(work: Path, repeats: int, drip_interval: float) -> dict[str, Any]:
    model = make_model(work / "model", size="tiny", seed=0)
    splits = {name: work / name for name in ("sft", "rl", "eval", "card")}
    build_dataset(
        BuildDatasetConfig(num_samples=120, eval_size=20, seed=0),
        splits["sft"],
        splits["rl"],
        splits["eval"],
        splits["card"],
    )
    runs: dict[str, list[dict[str, Any]]] = {"no_gateway": [], "black_hole": [], "drip": []}
    for round_ in range(repeats):
        runs["no_gateway"].append(sft_run(model, splits["sft"], work / f"n{round_}", None))
        with black_hole_gateway() as url:
            runs["black_hole"].append(sft_run(model, splits["sft"], work / f"h{round_}", url))
        with drip_gateway(drip_interval) as url:
            runs["drip"].append(sft_run(model, splits["sft"], work / f"d{round_}", url))
        print(f"round {round_ + 1}/{repeats} done", flush=True)
    summary = {}
    for name, results in runs.items():
        summary[name] = {
            key: round(median(r[key] for r in results), 4)
            for key in (
                "loop_seconds",
                "run_seconds",
                "max_log_hook_seconds",
                "end_hook_seconds",
                "failures",
                "successes",
            )
        }
        # The minimum is the least disturbed run: other jobs on a shared machine only add time.
        summary[name]["loop_seconds_min"] = round(min(r["loop_seconds"] for r in results), 4)
        summary[name]["loop_seconds_all"] = [round(r["loop_seconds"], 3) for r in results]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--drip-interval", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    push = single_push(min(args.drip_interval, 0.25))  # the legacy push takes ~59 intervals
    print(json.dumps(push, indent=2), flush=True)
    with tempfile.TemporaryDirectory() as temp:
        work = args.work or Path(temp)
        training = training_runs(work, args.repeats, args.drip_interval)
    report = {
        "what": f"{STEPS}-step tiny-model SFT, a push per step, push deadline {PUSH_DEADLINE} s",
        "single_push_to_drip_gateway": push,
        "training": training,
        "machine": machine(repeats=args.repeats),
    }
    for name, values in training.items():
        print(
            f"{name:11s} loop {values['loop_seconds']:6.2f} s"
            f" (min {values['loop_seconds_min']:.2f})"
            f"  run {values['run_seconds']:6.2f} s"
            f"  max log hook {values['max_log_hook_seconds'] * 1000:6.1f} ms"
            f"  end hook {values['end_hook_seconds']:5.2f} s  failures {values['failures']}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
