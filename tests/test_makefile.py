"""The Makefile's setup refuses a wrong Python with a clear line, before creating anything, and
`make clean` removes what `make run` / `make test` create, the venv included (issue 16)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


def _make(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(MAKEFILE, folder / "Makefile")
    (folder / "pyproject.toml").touch()
    return subprocess.run(
        ["make", *args], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )


def _other_python() -> str | None:
    """A real interpreter of another minor version (pyenv's or the system's), if any."""
    names = [f"python3.{minor}" for minor in (12, 10, 13, 9)]
    candidates = [shutil.which(name) for name in names]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.1[023]*/bin/python3"))
    return next((c for c in candidates if c), None)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_setup_with_another_python_fails_clearly_and_creates_nothing(tmp_path: Path) -> None:
    other = _other_python()
    if other is None:
        pytest.skip("no Python other than 3.11 on this machine")
    version = subprocess.run([other, "--version"], capture_output=True, text=True).stdout.strip()
    result = _make(tmp_path, "setup", f"PYTHON={other}")
    assert result.returncode != 0
    assert "error: VLAA-Thinker needs Python 3.11" in result.stdout
    assert version in result.stdout and "PYTHON=python3.11" in result.stdout
    assert not (tmp_path / ".venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_clean_removes_runs_and_the_venv(tmp_path: Path) -> None:
    for folder in ("runs/local", ".venv/bin", ".pytest_cache"):
        (tmp_path / folder).mkdir(parents=True)
    result = _make(tmp_path, "clean")
    assert result.returncode == 0, result.stderr
    assert not any((tmp_path / name).exists() for name in ("runs", ".venv", ".pytest_cache"))
