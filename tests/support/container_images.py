"""Building the two images from this checkout for the container tests (``make images``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Where this machine keeps the big locked wheels (torch and its CUDA libraries): the build
# takes them from disk instead of the index (images/build.sh, WHEELS).
LOCAL_WHEELS = Path("/opt/pypi-more/files")
BUILD_TIMEOUT_S = 3600


def engine_installed() -> bool:
    return shutil.which("podman") is not None or shutil.which("docker") is not None


needs_engine = pytest.mark.skipif(
    not engine_installed(), reason="no Docker or podman installed (.ci/run installs podman)"
)


def build_images(log_path: Path) -> None:
    """``make images`` for both images: a local Debian base unless ``BASE_IMAGE`` names one;
    an image whose inputs are unchanged is reused (build.sh's labels), so this is seconds
    after the first build."""
    env = dict(os.environ)
    env.setdefault("BASE_IMAGE", "local")
    if LOCAL_WHEELS.is_dir():
        env.setdefault("WHEELS", str(LOCAL_WHEELS))
    with log_path.open("w") as log:
        result = subprocess.run(
            ["make", "images"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        pytest.fail(f"make images failed (exit {result.returncode}):\n{tail}")
