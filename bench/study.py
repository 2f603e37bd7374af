"""The SFT-vs-RL study on the embedded default, over several seeds: does the tiny world show
the paper's finding?

Per seed S it runs the whole ``vlaa-sft-vs-rl`` DAG locally with the ``local-cpu`` preset,
the base model ``tiny:S`` (pretrained, cached), data seed S and training seed 42 + S, then reads
the compare step's ``comparison.json``. Nothing is tuned for the outcome: the preset is the
one ``vlaa run --local --pipeline sft-vs-rl`` uses. The paper's qualitative finding (docs/method.md,
"SFT or RL?") is checked per seed as three yes/no answers: SFT-initialised GRPO starts at a
higher reward, ends at a lower reward, and writes longer responses than GRPO from the base.

Usage: ``python bench/study.py [--seeds 0 1 2] [--output DIR] [--collect]`` (``--collect``
reads runs already finished under DIR instead of running them); writes
``bench/results/study.json`` with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from machine_info import machine

from vlaa.evaluation.compare import ARMS
from vlaa.parameters import validate_parameters
from vlaa.pipelines.local_run import RUN_FILE, run_local
from vlaa.presets import preset

RESULTS = Path(__file__).parent / "results" / "study.json"


def parameters(seed: int) -> dict[str, Any]:
    raw = json.loads(json.dumps(preset("local-cpu")))  # a deep copy
    raw["base_model"] = f"tiny:{seed}"
    raw["data"]["seed"] = seed
    # Training seeds 42 + S: seed 0 is exactly `vlaa run --local --pipeline sft-vs-rl`.
    raw["sft"]["seed"] = 42 + seed
    raw["grpo"]["seed"] = 42 + seed
    raw.pop("grpo_init", None)
    raw.pop("publish", None)
    return raw


def one_seed(seed: int, output: Path) -> dict[str, Any]:
    summary = run_local(validate_parameters(parameters(seed)), output, "sft-vs-rl")
    return read_seed(seed, summary)


def read_seed(seed: int, summary: dict[str, Any]) -> dict[str, Any]:
    """One seed's numbers from its run summary (``run.json``) and the compare step's output."""
    report = Path(summary["artifacts"]["compare.report"])
    comparison = json.loads((report.parent / "compare-work" / "comparison.json").read_text())
    grpo, sft_grpo = comparison["grpo_dynamics"]["grpo"], comparison["grpo_dynamics"]["sft-grpo"]
    return {
        "seed": seed,
        "wall_seconds": summary["seconds"],
        "arms": {arm: comparison["accuracy"].get(arm, {}) for arm in ARMS},
        "grpo_dynamics": comparison["grpo_dynamics"],
        "curves": comparison.get("curves", {}),
        "paper_finding": {
            "sft_grpo_starts_higher": sft_grpo["reward_first"] > grpo["reward_first"],
            "sft_grpo_ends_lower": sft_grpo["reward_last"] < grpo["reward_last"],
            "sft_grpo_longer": sft_grpo["length_last"] > grpo["length_last"],
        },
        "stage_seconds": {s["name"]: s.get("wall_seconds") for s in summary["stages"]},
    }


def _mean_sd(values: list[float]) -> dict[str, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "sd": round(sd, 4)}


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and SD over seeds of each arm's accuracy and format rate, and of the dynamics."""
    out: dict[str, Any] = {"arms": {}, "grpo_dynamics": {}, "paper_finding_seeds": {}}
    for arm in ARMS:
        out["arms"][arm] = {
            key: _mean_sd([run["arms"][arm][key] for run in runs])
            for key in ("accuracy", "format_rate", "mean_completion_chars")
            if all(key in run["arms"][arm] for run in runs)
        }
    for arm in ("grpo", "sft-grpo"):
        keys = runs[0]["grpo_dynamics"][arm]
        out["grpo_dynamics"][arm] = {
            key: _mean_sd([run["grpo_dynamics"][arm][key] for run in runs])
            for key in keys
            if all(run["grpo_dynamics"][arm][key] is not None for run in runs)
        }
    for key in runs[0]["paper_finding"]:
        out["paper_finding_seeds"][key] = (
            f"{sum(r['paper_finding'][key] for r in runs)}/{len(runs)}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", type=Path, default=None, help="run folders (default: temp)")
    parser.add_argument(
        "--collect",
        action="store_true",
        help="read the finished runs under --output instead of running them",
    )
    args = parser.parse_args()
    if args.collect and not args.output:
        parser.error("--collect reads the runs under --output")
    root = args.output or Path(tempfile.mkdtemp(prefix="vlaa-study-"))
    runs = []
    for seed in args.seeds:
        folder = root / f"seed-{seed}"
        if args.collect:
            run_file = folder / RUN_FILE
            if not run_file.is_file():
                print(f"seed {seed}: no finished run in {folder}")
                continue
            run = read_seed(seed, json.loads(run_file.read_text()))
        else:
            run = one_seed(seed, folder)
        runs.append(run)
        write(runs, args.seeds)  # after every seed: a long study keeps what it measured
        arms = "  ".join(
            f"{arm} {run['arms'][arm].get('accuracy', float('nan')):.2f}"
            f"/{run['arms'][arm].get('format_rate', float('nan')):.2f}"
            for arm in ARMS
        )
        print(f"seed {seed} ({run['wall_seconds']:.0f} s) accuracy/format: {arms}")
        for arm, row in run["grpo_dynamics"].items():
            print(f"  {arm:<9} " + "  ".join(f"{k} {v}" for k, v in row.items()))
        print(f"  paper finding: {run['paper_finding']}")
    if not runs:
        raise SystemExit("no finished run to report")
    print(json.dumps(write(runs, args.seeds)["summary"], indent=2))
    print(f"wrote {RESULTS}")


def write(runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    result = {
        "benchmark": "study",
        "pipeline": "vlaa-sft-vs-rl",
        "preset": "local-cpu",
        "seeds": [run["seed"] for run in runs],
        "seeds_asked": seeds,
        "summary": aggregate(runs),
        "runs": runs,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
