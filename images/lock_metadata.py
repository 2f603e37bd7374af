"""Snapshot the core metadata (Requires-Dist, Requires-Python) of every package in the locks.

Run through ``images/lock-metadata.sh`` after ``images/lock-requirements.sh``. Writes
``images/requirements/metadata.json`` ({"name==version": {...}}), which
``tests/images/test_locks.py`` reads offline to check every lock against its own packages'
declared requirements.

Per package: the wheel the image would install (CPython 3.11, manylinux x86_64, else a pure
wheel); its METADATA from PyPI's PEP 658 ``.metadata`` file when the index offers one, else read
out of the remote wheel with HTTP range requests (only the zip directory and METADATA entry are
fetched, not a multi-GB CUDA wheel); an sdist-only package (DeepSpeed, kfp-server-api) is asked
for its metadata by ``pip install --dry-run --report`` without build isolation.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

INDEX = "https://pypi.org/simple"
# The images' interpreter and platform: CPython 3.11 on Debian bookworm, glibc 2.36
# (lock-requirements.sh resolves for the same).
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
TAGS: list[Tag] = [
    *cpython_tags((3, 11), platforms=PLATFORMS),
    *compatible_tags((3, 11), "cp311", platforms=PLATFORMS),
]
RANK = {tag: i for i, tag in enumerate(TAGS)}


class RemoteFile(io.RawIOBase):
    """A read-only, seekable view of a URL through HTTP range requests."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size, self.pos = url, size, 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self.pos >= self.size or not len(buffer):
            return 0
        end = min(self.pos + len(buffer), self.size) - 1
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={self.pos}-{end}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            data = response.read()
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def read_locks(paths: list[Path]) -> dict[str, str]:
    """name==version for every pin of the given lock files."""
    pins: dict[str, str] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            spec = line.split("#", 1)[0].strip()
            if spec:
                name, _, version = spec.partition("==")
                pins[f"{canonicalize_name(name)}=={version.strip()}"] = version.strip()
    return pins


def project_files(name: str) -> list[dict]:
    request = urllib.request.Request(
        f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)["files"]


def best_wheel(files: list[dict], name: str, version: str) -> dict | None:
    ranked = []
    for file in files:
        if not file["filename"].endswith(".whl") or file.get("yanked"):
            continue
        try:
            wheel_name, wheel_version, _, tags = parse_wheel_filename(file["filename"])
        except InvalidWheelFilename:  # pre-PEP 427 names of old releases
            continue
        if wheel_name != name or wheel_version != Version(version):
            continue
        ranks = [RANK[tag] for tag in tags if tag in RANK]
        if ranks:
            ranked.append((min(ranks), file))
    return min(ranked, key=lambda pair: pair[0])[1] if ranked else None


def wheel_metadata(file: dict, name: str) -> str:
    if file.get("core-metadata") or file.get("dist-info-metadata"):
        with urllib.request.urlopen(file["url"] + ".metadata", timeout=120) as response:
            return response.read().decode()
    remote = io.BufferedReader(RemoteFile(file["url"], file["size"]), 1 << 16)
    with zipfile.ZipFile(remote) as wheel:
        # The top-level <name>-<version>.dist-info (some wheels vendor other dist-infos).
        (entry,) = [
            n
            for n in wheel.namelist()
            if n.count("/") == 1
            and n.endswith(".dist-info/METADATA")
            and canonicalize_name(n.split("-", 1)[0]) == name
        ]
        return wheel.read(entry).decode()


def sdist_metadata(name: str, version: str, python: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
             "--no-deps", "--no-build-isolation", "--no-binary", name,
             "--index-url", INDEX, "--report", str(report), f"{name}=={version}"],
            check=True,
        )  # fmt: skip
        (item,) = json.loads(report.read_text())["install"]
        return item["metadata"]


def entry(name: str, version: str, python: str) -> dict:
    files = project_files(name)
    wheel = best_wheel(files, name, version)
    if wheel is not None:
        message = Parser().parsestr(wheel_metadata(wheel, name))
        requires_dist = message.get_all("Requires-Dist") or []
        requires_python = message.get("Requires-Python")
        source = wheel["filename"]
    else:
        metadata = sdist_metadata(name, version, python)
        requires_dist = metadata.get("requires_dist", [])
        requires_python = metadata.get("requires_python")
        source = f"{name}-{version} sdist (pip metadata, no build isolation)"
    return {"source": source, "requires_python": requires_python, "requires_dist": requires_dist}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locks", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--python", default=sys.executable, help="runs pip for sdists")
    args = parser.parse_args()
    pins = read_locks(args.locks)
    old = json.loads(args.output.read_text()) if args.output.exists() else {}
    snapshot = {}
    for key in sorted(pins):
        name, version = key.split("==")
        # name==version is immutable on PyPI: reuse what an earlier run fetched.
        snapshot[key] = old.get(key) or entry(name, version, args.python)
        print(f"{key}: {len(snapshot[key]['requires_dist'])} requirements", file=sys.stderr)
        # Written as it goes, so a rerun after a network error resumes.
        args.output.write_text(json.dumps(snapshot | old, indent=1, sort_keys=True) + "\n")
    args.output.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output} ({len(snapshot)} packages)", file=sys.stderr)


if __name__ == "__main__":
    main()
