"""How fast the light paths answer: importing the parameter code, and a typo's one-line error.

Each measurement is a fresh process (what a user waits for), repeated; the median is reported.

- ``import vlaa.parameters`` under ``python -X importtime`` (the cumulative time of that import,
  and the process's wall time),
- ``vlaa run --local --params BAD``, ``vlaa submit --params BAD`` and
  ``vlaa schedule --cron ... --params BAD``: wall time until the error line (a misspelt key),
- which of torch / transformers / trl each light import loads (none is the target).

Prints a table and writes ``bench/results/import_time.json`` with the machine it ran on.
Targets (issue: layout by domain): import under 1 s, a bad run parameter reported under 2 s.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import machine

RESULTS = Path(__file__).parent / "results" / "import_time.json"
VLAA = Path(sys.executable).with_name("vlaa")
LIGHT_IMPORTS = ("vlaa.parameters", "vlaa.cli", "vlaa.pipelines.submit", "vlaa.pipelines.compile")
HEAVY = ("torch", "transformers", "trl")


def import_seconds(module: str) -> tuple[float, float]:
    """(cumulative import time of ``module`` from -X importtime, process wall time)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    # "import time: self [us] | cumulative | imported package"; the module's own line is last.
    pattern = re.compile(rf"^import time:\s+\d+ \|\s+(\d+) \|\s*{re.escape(module)}$", re.M)
    cumulative_us = int(pattern.findall(result.stderr)[-1])
    return cumulative_us / 1e6, wall


def heavy_loaded(module: str) -> list[str]:
    probe = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [name for name in out.stdout.strip().split(",") if name]


def error_seconds(arguments: list[str]) -> tuple[float, str]:
    """Wall time of a CLI call that must fail with one line, and that line."""
    started = time.perf_counter()
    result = subprocess.run([str(VLAA), *arguments], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode == 0:
        raise SystemExit(f"vlaa {' '.join(arguments)} did not fail")
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "error" in line]
    return wall, (lines[0].strip() if lines else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    imports = {}
    for module in LIGHT_IMPORTS:
        runs = [import_seconds(module) for _ in range(args.repeats)]
        imports[module] = {
            "import_seconds_median": round(statistics.median(r[0] for r in runs), 3),
            "process_seconds_median": round(statistics.median(r[1] for r in runs), 3),
            "heavy_modules_loaded": heavy_loaded(module),
        }
    with tempfile.TemporaryDirectory() as scratch:
        bad = Path(scratch) / "bad.yaml"
        bad.write_text("sft:\n  learning_rat: 1e-5\n")
        commands = {
            "run": ["run", "--local", "--params", str(bad), "--output", scratch],
            "submit": ["submit", "--params", str(bad), "--host", "http://127.0.0.1:9"],
            "schedule": [
                "schedule",
                "--cron",
                "0 0 3 * * *",
                "--params",
                str(bad),
                "--host",
                "http://127.0.0.1:9",
            ],
        }
        errors = {}
        for name, command in commands.items():
            runs = [error_seconds(command) for _ in range(args.repeats)]
            errors[name] = {
                "seconds_median": round(statistics.median(r[0] for r in runs), 3),
                "message": runs[0][1],
            }
    result = {
        "machine": machine(),
        "repeats": args.repeats,
        "imports": imports,
        "bad_parameter_errors": errors,
        "targets": {"import_seconds": 1.0, "bad_parameter_seconds": 2.0},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'import':28} {'import s':>9} {'process s':>10}  heavy")
    for module, row in imports.items():
        heavy = ",".join(row["heavy_modules_loaded"]) or "-"
        print(
            f"{module:28} {row['import_seconds_median']:9.3f} "
            f"{row['process_seconds_median']:10.3f}  {heavy}"
        )
    for name, row in errors.items():
        print(f"vlaa {name:8} bad parameter: {row['seconds_median']:.3f} s  ({row['message']})")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
