"""Print the wheels in a directory that a lock pins exactly and this interpreter can install.

Run inside an image build: ``python select_wheels.py LOCK DIR`` -> one path per package (the
best tag for this interpreter), for ``pip install --no-deps --no-index`` before the lock is
installed from the index. pip given ``--find-links DIR`` next to an index may still download
the same version from the index; this makes the local copies (e.g. torch's CUDA wheels already
on disk) win. Only pip's own vendored ``packaging`` is used: the build venv has nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pip._vendor.packaging.tags import sys_tags
from pip._vendor.packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from pip._vendor.packaging.version import Version


def pins(lock: Path) -> dict[str, str]:
    out = {}
    for line in lock.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if "==" in spec:
            name, _, version = spec.partition("==")
            out[canonicalize_name(name)] = version.strip()
    return out


def main(lock: Path, directory: Path) -> None:
    wanted = pins(lock)
    rank = {tag: i for i, tag in enumerate(sys_tags())}
    best: dict[str, tuple[int, Path]] = {}
    for path in sorted(directory.glob("*.whl")):
        try:
            name, version, _, tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if name not in wanted or version != Version(wanted[name]):
            continue
        ranks = [rank[tag] for tag in tags if tag in rank]
        if ranks and (name not in best or min(ranks) < best[name][0]):
            best[name] = (min(ranks), path)
    for _, path in sorted(best.values(), key=lambda pair: pair[1].name):
        print(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
