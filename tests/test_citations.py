"""Every repository file that the README, docs/, code comments or docstrings cite exists (issue 16:
the README and ~35 comments cited PAPER.md and tests/test_grpo_resume.py, which are not here)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path into the repository's own folders, with a file extension.
CITED_PATH = re.compile(
    r"(?<![\w./-])((?:vlaa|components|pipelines|tests|docs|bench|manifests|images)/[\w./-]*"
    r"[\w-]\.(?:py|md|yaml|yml|json|toml|sh|txt|lock|env|jsonl))\b"
)
# A top-level document by name: PAPER.md, DESIGN.md, METHOD.md, README.md ...
CITED_DOCUMENT = re.compile(r"(?<![\w./-])([A-Z][A-Z_]+\.md)\b")
# Written by a build, not committed: `make images PUSH=1` writes images/images.env.
GENERATED = {"images/images.env"}
# Placeholders in a path pattern (pipelines/compiled/PIPELINE.yaml), not file names.
PLACEHOLDERS = {"PIPELINE", "NAME", "VERSION"}
SCANNED = (".py", ".md", ".toml", ".sh", ".cfg", "Makefile", "Dockerfile")


def _scanned_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # This file names missing files on purpose (the examples above and the probe below).
    own = Path(__file__).resolve().relative_to(ROOT).as_posix()
    return [ROOT / name for name in listed if name.endswith(SCANNED) and name != own]


def _exists(cited: str, source: Path) -> bool:
    """Found from the repository root, the kustomize root, or a folder above the citing file
    (manifests/README.md cites tests/vlaa-alerts.test.yml of manifests/)."""
    bases = [ROOT, ROOT / "manifests", *source.parents]
    return any((base / cited).exists() for base in bases if base.is_relative_to(ROOT))


def missing_citations(files: list[Path]) -> list[str]:
    missing = []
    for source in files:
        for number, line in enumerate(source.read_text(errors="replace").splitlines(), 1):
            paths = [p for p in CITED_PATH.findall(line) if p not in GENERATED]
            paths = [p for p in paths if Path(p).stem not in PLACEHOLDERS]
            documents = [
                d for d in CITED_DOCUMENT.findall(line) if not (ROOT / "docs" / d).exists()
            ]
            for cited in paths + documents:
                if not _exists(cited, source):
                    where = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source.name
                    missing.append(f"{where}:{number}: {cited}")
    return missing


def test_every_cited_repository_file_exists() -> None:
    files = _scanned_files()
    assert any(f.name == "README.md" for f in files) and len(files) > 100
    missing = missing_citations(files)
    assert not missing, "cited but not in the repository:\n" + "\n".join(missing)


def test_the_scan_catches_a_missing_citation(tmp_path: Path) -> None:
    probe = tmp_path / "probe.md"
    probe.write_text("See PAPER.md and tests/test_grpo_resume.py, and vlaa/parameters.py.\n")
    assert missing_citations([probe]) == [
        "probe.md:1: tests/test_grpo_resume.py",
        "probe.md:1: PAPER.md",
    ]
