"""Run import-linter over the package as it is installed.

pyproject.toml maps ``vlaa.components`` to ``components/`` and ``vlaa.pipelines`` to
``pipelines/``; grimp (import-linter's graph builder) only walks the folder of the root package,
so it would never see them. This copies the three folders into one ``vlaa/`` tree in a scratch
folder and runs ``lint-imports`` with that tree first on ``sys.path``.

``python tests/support/import_graph.py`` is what ``make test`` runs; tests call ``lint``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAPPED = {"components": "components", "pipelines": "pipelines"}  # vlaa.<name> <- <folder>/


def assemble(target: Path, repo: Path = REPO) -> Path:
    """Copy vlaa/, components/ and pipelines/ into ``target/vlaa`` as they are installed."""
    ignore = shutil.ignore_patterns("__pycache__", "*.yaml", "*.json")
    package = target / "vlaa"
    shutil.copytree(repo / "vlaa", package, ignore=ignore)
    for name, folder in MAPPED.items():
        shutil.copytree(repo / folder, package / name, ignore=ignore)
    return package


def lint(tree: Path, config: Path = REPO / "pyproject.toml") -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the assembled ``tree`` (the folder holding ``vlaa/``)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    executable = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(executable), str(config), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vlaa-import-graph-") as scratch:
        assemble(Path(scratch))
        result = lint(Path(scratch))
    print(result.stdout + result.stderr, end="")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
