"""Wall time of each stage of the default local run (the README's main command).

Runs the whole ``vlaa-thinker`` DAG with the ``local-cpu`` preset through KFP's local runner,
prints a table of stage seconds and writes ``bench/results/local_run.json`` with the machine
it ran on. Usage: ``python bench/local_run.py [--grpo-init sft|base] [--output DIR]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from machine_info import machine

from vlaa.parameters import validate_parameters
from vlaa.pipelines.local_run import run_local
from vlaa.presets import preset

RESULTS = Path(__file__).parent / "results" / "local_run.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpo-init", default="sft", choices=["sft", "base"])
    parser.add_argument("--output", type=Path, default=None, help="run folder (default: temp)")
    args = parser.parse_args()
    output = args.output or Path(tempfile.mkdtemp(prefix="vlaa-bench-"))
    raw = dict(preset("local-cpu"), grpo_init=args.grpo_init)
    raw["publish"] = dict(raw.get("publish", {}), store_uri=str(output / "registry"))
    started = time.time()
    summary = run_local(validate_parameters(raw), output)
    wall = time.time() - started
    print(f"{'stage':<18}{'step s':>10}{'wall s':>10}")
    for stage in summary["stages"]:
        step, wall_s = stage.get("seconds", float("nan")), stage.get("wall_seconds", float("nan"))
        print(f"{stage['name']:<18}{step:>10.1f}{wall_s:>10.1f}")
    print(f"{'whole run':<18}{wall:>10.1f}")
    print(json.dumps(summary["metrics"], indent=2))
    result = {
        "benchmark": "local_run",
        "arm": summary["arm"],
        "wall_seconds": round(wall, 1),
        "stages": {
            s["name"]: {"step_seconds": s.get("seconds"), "wall_seconds": s.get("wall_seconds")}
            for s in summary["stages"]
        },
        "metrics": summary["metrics"],
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
