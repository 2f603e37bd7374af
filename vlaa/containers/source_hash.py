"""The hash of the sources an image is built from, so a stale image is found before it runs.

``images/build.sh`` labels each image with it (``LABEL_SOURCE``) and skips a build whose
inputs are unchanged; ``vlaa run --local --runner container`` compares the label with the
checkout it runs from. The files are those the Dockerfiles ``COPY`` (images/*.Dockerfile, the
``project`` stage; the allow-list in images/*.Dockerfile.dockerignore): pyproject.toml,
README.md, vlaa/, components/, pipelines/ without pipelines/compiled/ and bytecode.

Standard library only: build.sh runs this file as a script with the system's python3
(``python3 vlaa/containers/source_hash.py ROOT``), before any venv exists.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

LABEL_SOURCE = "org.vlaa-thinker.source-sha256"
LABEL_INPUTS = "org.vlaa-thinker.inputs-sha256"

SOURCE_FILES = ("pyproject.toml", "README.md")
SOURCE_TREES = ("vlaa", "components", "pipelines")
_SKIPPED_DIRS = {"__pycache__", "compiled"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _source_paths(root: Path) -> Iterator[Path]:
    for name in SOURCE_FILES:
        if (root / name).is_file():
            yield root / name
    for tree in SOURCE_TREES:
        for path in (root / tree).rglob("*"):
            relative = path.relative_to(root)
            if any(part in _SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts):
                continue
            if path.is_file() and path.suffix not in _SKIPPED_SUFFIXES:
                yield path


def source_sha256(root: Path) -> str:
    """SHA-256 over each source file's path (relative to ``root``) and content, in path order."""
    digest = hashlib.sha256()
    for path in sorted(_source_paths(root), key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def checkout_root() -> Path | None:
    """The source checkout this package runs from (an editable install), else None (a wheel:
    there is no checkout to compare an image with)."""
    root = Path(__file__).resolve().parents[2]
    if all((root / name).exists() for name in ("pyproject.toml", "components", "pipelines")):
        return root
    return None


if __name__ == "__main__":
    print(source_sha256(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
