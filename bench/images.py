"""Image build times and sizes: `images/build.sh` per image, timed, then the image's size.

    python bench/images.py --images tools --base localhost/vlaa-base:bookworm-py3.11 \\
        --wheels /opt/pypi-more/files --bootstrap --no-cache

--bootstrap times images/bootstrap-base.sh first (the local Debian base, as root);
--no-cache builds without the engine's layer cache (a cold build; downloads still hit the
index, or --wheels). Merges into ``bench/results/images.json`` (other keys are kept) with the
machine it ran on; run with `nice` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from machine_info import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "images.json"


def engine() -> str:
    if os.environ.get("DOCKER"):
        return os.environ["DOCKER"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        return "docker"
    return "podman"


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return round(time.perf_counter() - started, 1)


def image_size(docker: str, reference: str) -> int:
    out = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Size}}", reference],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=["tools"], choices=["tools", "trainer"])
    parser.add_argument("--base", help="BASE_IMAGE (default: the public base)")
    parser.add_argument("--wheels", help="WHEELS: a directory of wheels to use before the index")
    parser.add_argument("--bootstrap", action="store_true", help="time bootstrap-base.sh first")
    parser.add_argument("--no-cache", action="store_true", help="build without the layer cache")
    parser.add_argument("--note", default="", help="recorded with each build (what was cached)")
    args = parser.parse_args()

    docker = engine()
    env = {**os.environ, "DOCKER": docker}
    if args.base:
        env["BASE_IMAGE"] = args.base
    if args.wheels:
        env["WHEELS"] = args.wheels
    if args.no_cache:
        env["BUILD_FLAGS"] = "--no-cache"
        env["FORCE"] = "1"  # build.sh skips an image whose inputs are unchanged
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    builds = results.get("builds", {})
    if args.bootstrap:
        seconds = timed(["images/bootstrap-base.sh"], env)
        base = env.get("BASE_IMAGE", "localhost/vlaa-base:bookworm-py3.11")
        builds["base"] = {"script": "images/bootstrap-base.sh", "reference": base,
                          "seconds": seconds, "size_bytes": image_size(docker, base)}  # fmt: skip
        print(f"base {base}: {seconds} s, {builds['base']['size_bytes'] / 1e9:.2f} GB")
    version = subprocess.run(
        [docker, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for name in args.images:
        seconds = timed(["images/build.sh"], {**env, "IMAGES": name, "VLAA_IMAGE_TAG": "bench"})
        reference = f"ghcr.io/vlaa-thinker/vlaa-{name}:bench"
        size = image_size(docker, reference)
        builds[name] = {
            "reference": reference,
            "base": args.base or "python:3.11.14-slim-bookworm (base-images.lock digest)",
            "wheels": args.wheels,
            "cold": args.no_cache,
            "seconds": seconds,
            "size_bytes": size,
            "engine": version,
            "note": args.note,
        }
        print(f"{name}: {seconds} s, {size / 1e9:.2f} GB")
    results["builds"] = builds
    results["build_machine"] = machine(note=args.note or "2 cores; see each build's note")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
