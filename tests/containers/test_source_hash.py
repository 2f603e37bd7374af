"""The source hash that labels the images (images/build.sh) and finds a stale one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from vlaa.containers.source_hash import checkout_root, source_sha256

ROOT = Path(__file__).resolve().parents[2]


def _copy_sources(target: Path) -> Path:
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    for tree in ("vlaa", "components", "pipelines"):
        shutil.copytree(ROOT / tree, target / tree, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_checkout_root_is_this_repository() -> None:
    assert checkout_root() == ROOT


def test_hash_follows_what_the_images_copy_and_nothing_else(tmp_path: Path) -> None:
    tree = _copy_sources(tmp_path)
    first = source_sha256(tree)
    assert first == source_sha256(ROOT)

    # Not in an image: bytecode, compiled pipelines, anything outside the copied trees.
    (tree / "vlaa" / "__pycache__").mkdir(exist_ok=True)
    (tree / "vlaa" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (tree / "pipelines" / "compiled" / "extra.yaml").write_text("a: 1\n")
    (tree / "docs").mkdir()
    (tree / "docs" / "page.md").write_text("# page\n")
    assert source_sha256(tree) == first

    # In an image: a changed, added or renamed source file.
    module = tree / "vlaa" / "prompts.py"
    module.write_text(module.read_text() + "\n# changed\n")
    changed = source_sha256(tree)
    assert changed != first
    module.rename(tree / "vlaa" / "prompts_moved.py")
    assert source_sha256(tree) not in (first, changed)


def test_build_script_runs_it_with_the_system_python() -> None:
    """images/build.sh runs the file as a script, with no venv and no vlaa on the path."""
    result = subprocess.run(
        [sys.executable, "-I", str(ROOT / "vlaa" / "containers" / "source_hash.py"), str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == source_sha256(ROOT)
    assert "vlaa/containers/source_hash.py ." in (ROOT / "images" / "build.sh").read_text()
