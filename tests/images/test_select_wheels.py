"""images/select_wheels.py: which local wheels the image build installs before the index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "images" / "select_wheels.py"


def test_only_exact_lock_versions_with_an_installable_tag(tmp_path):
    lock = tmp_path / "x.lock"
    lock.write_text("torch==2.14.1    # via x\nnvidia-cublas==13.1.1.3\nnumpy==2.4.6\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    names = [
        "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl",  # picked
        "torch-2.14.1-cp310-cp310-manylinux_2_28_x86_64.whl",  # other Python
        "torchvision-0.29.1-cp311-cp311-manylinux_2_28_x86_64.whl",  # not locked
        "nvidia_cublas-13.1.1.3-py3-none-manylinux_2_27_x86_64.whl",  # picked (name normalized)
        "numpy-2.4.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",  # other version
        "pydantic-0.18-py36+-none-any.whl",  # not a valid wheel name: skipped
    ]
    for name in names:
        (wheels / name).write_bytes(b"")
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(lock), str(wheels)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [Path(p).name for p in out] == [names[3], names[0]]
