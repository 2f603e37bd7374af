"""The default DAG's wall time with the subprocess runner and with the container runner, in one
run of this script (same machine, same parameters, one after the other).

    python bench/container_run.py [--preset local-cpu] [--output DIR] [--build]

--build runs `make images` first (BASE_IMAGE=local, WHEELS=/opt/pypi-more/files when it
exists), timed; an image whose inputs are unchanged is reused. The subprocess run goes first, so
the tiny base is pretrained (or found) in the shared cache before the containers use it. Merges
``dag_wall_times`` into ``bench/results/images.json`` (other keys kept) with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from machine_info import machine

from images import RESULTS, ROOT, engine, image_size
from vlaa.images import TOOLS_IMAGE, TRAINER_IMAGE
from vlaa.parameters import validate_parameters
from vlaa.pipelines.local_run import run_local
from vlaa.presets import preset

LOCAL_WHEELS = Path("/opt/pypi-more/files")


def build_images() -> float:
    env = dict(os.environ)
    env.setdefault("BASE_IMAGE", "local")
    if LOCAL_WHEELS.is_dir():
        env.setdefault("WHEELS", str(LOCAL_WHEELS))
    started = time.perf_counter()
    subprocess.run(["make", "images"], cwd=ROOT, env=env, check=True)
    return round(time.perf_counter() - started, 1)


def one_run(preset_name: str, output: Path, runner: str) -> dict[str, Any]:
    raw = dict(preset(preset_name))
    raw["publish"] = dict(raw.get("publish", {}), store_uri=str(output / "registry"))
    started = time.perf_counter()
    summary = run_local(validate_parameters(raw), output, runner=runner)
    wall = round(time.perf_counter() - started, 1)
    return {
        "wall_seconds": wall,
        "stages": {s["name"]: s.get("wall_seconds") for s in summary["stages"]},
        "metrics": summary["metrics"],
        "tasks": [
            {k: t.get(k) for k in ("task", "image", "image_id", "seconds")}
            for t in summary["tasks"]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="local-cpu")
    parser.add_argument("--output", type=Path, default=None, help="run folders (default: temp)")
    parser.add_argument("--build", action="store_true", help="make images first, timed")
    parser.add_argument("--note", default="", help="recorded with the result (machine load)")
    args = parser.parse_args()
    output = args.output or Path(tempfile.mkdtemp(prefix="vlaa-bench-containers-"))
    result: dict[str, Any] = {"preset": args.preset, "note": args.note}
    if args.build:
        result["make_images_seconds"] = build_images()
    result["subprocess"] = one_run(args.preset, output / "subprocess", "subprocess")
    result["container"] = one_run(args.preset, output / "container", "container")
    docker = engine()
    result["image_sizes_bytes"] = {
        ref: image_size(docker, ref) for ref in (TOOLS_IMAGE, TRAINER_IMAGE)
    }
    result["machine"] = machine()
    result["date"] = time.strftime("%Y-%m-%d %H:%M:%S %z")

    print(f"{'stage':<18}{'subprocess s':>14}{'container s':>14}")
    for stage, seconds in result["subprocess"]["stages"].items():
        other = result["container"]["stages"].get(stage)
        print(f"{stage:<18}{seconds or float('nan'):>14.1f}{other or float('nan'):>14.1f}")
    print(
        f"{'whole DAG':<18}{result['subprocess']['wall_seconds']:>14.1f}"
        f"{result['container']['wall_seconds']:>14.1f}"
    )
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["dag_wall_times"] = result
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
