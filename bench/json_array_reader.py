"""JSON-array reader speed: ``vlaa.data.json_array_scan`` against ``ijson.items`` on one file.

Writes a release-format file of ``--size-mb`` (default 100 MB) as a JSON array and as JSON lines
into a temporary folder, then, in this one process and alternating so that load on a shared
machine hits every reader alike, times ``--repeats`` (default 5) rounds of:

- ``reader``: iterating the array's items only (``iter_array_items`` / ``ijson.items`` with
  ``use_float=True``, as the release reader used before the scanner);
- ``import``: every row of ``open_release`` as the builder iterates them, with our scanner, with
  ``ijson.items`` swapped in, and from the JSON-lines file.

It reports the best wall and CPU (``time.process_time``) seconds of each; CPU seconds stay
comparable on a busy machine, wall seconds do not. ijson is only a yardstick here: it is not
bounded (one 200 KB item nested deep costs it 22 GB, ``vlaa.data.json_array_scan``).
Results go to ``bench/results/json_array_reader.json`` with the machine.
Usage: ``python bench/json_array_reader.py [--size-mb 100] [--repeats 5] [--output FILE]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

RESULTS = Path(__file__).parent / "results" / "json_array_reader.json"
MB = 10**6
TESTS = Path(__file__).resolve().parents[1] / "tests"


def ijson_items(handle: BinaryIO, prefix: str, limits: Any, start: int = 0) -> Iterator[Any]:
    """``ijson.items`` in ``iter_array_items``'s shape (no limits, no offsets)."""
    import ijson

    from vlaa.data.json_array_scan import ArrayItem

    for index, value in enumerate(ijson.items(handle, prefix, use_float=True)):
        yield ArrayItem(index, 0, value=value)


def timed(run: Callable[[], int]) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    count = run()
    return time.perf_counter() - wall, time.process_time() - cpu, count


def measure(folder: Path, repeats: int) -> dict[str, dict[str, Any]]:
    from vlaa.data.json_array_scan import iter_array_items
    from vlaa.data.limits import DEFAULT_LIMITS
    from vlaa.data.sources import release
    from vlaa.data.sources.base import SourceSpec

    readers = {"scanner": iter_array_items, "ijson": ijson_items}

    def read_items(reader: Callable[..., Iterator[Any]]) -> int:
        with (folder / "array" / release.SFT_FILE).open("rb") as handle:
            return sum(1 for _ in reader(handle, "item", DEFAULT_LIMITS))

    def import_rows(root: Path, reader: Callable[..., Iterator[Any]]) -> int:
        release.iter_array_items = reader  # type: ignore[assignment]
        try:
            source = release.open_release(SourceSpec(kind="release", path=str(root)), root)
            return sum(1 for _ in source.rows)
        finally:
            release.iter_array_items = iter_array_items

    runs: dict[str, Callable[[], int]] = {}
    for name, reader in readers.items():
        runs[f"reader/{name}"] = lambda reader=reader: read_items(reader)
        runs[f"import/array/{name}"] = lambda reader=reader: import_rows(folder / "array", reader)
    runs["import/jsonl"] = lambda: import_rows(folder / "jsonl", iter_array_items)
    best: dict[str, dict[str, Any]] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu, count = timed(run)
            entry = best.setdefault(name, {"wall_seconds": wall, "cpu_seconds": cpu})
            entry["wall_seconds"] = round(min(entry["wall_seconds"], wall), 3)
            entry["cpu_seconds"] = round(min(entry["cpu_seconds"], cpu), 3)
            entry["items"] = count
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100, help="file size (10^6 B)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the best is kept")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))
    from fixtures.release_files import write_release_file

    from vlaa.data.sources.release import SFT_FILE

    with tempfile.TemporaryDirectory(prefix="vlaa-json-array-") as tmp:
        folder = Path(tmp)
        for fmt in ("array", "jsonl"):
            (folder / fmt).mkdir()
            write_release_file(folder / fmt / SFT_FILE, args.size_mb * MB, fmt=fmt)  # type: ignore[arg-type]
        file_bytes = (folder / "array" / SFT_FILE).stat().st_size
        best = measure(folder, args.repeats)
    for name, entry in best.items():
        print(
            f"{name:20s} {entry['items']:>8,} items  wall {entry['wall_seconds']:6.3f} s  "
            f"cpu {entry['cpu_seconds']:6.3f} s  ({file_bytes / MB / entry['cpu_seconds']:.0f} MB "
            "per CPU second)"
        )
    from machine_info import machine

    report = {
        "benchmark": "json_array_reader",
        "file_bytes": file_bytes,
        "repeats": args.repeats,
        "unit": "best wall / CPU seconds over the repeats, one process, readers alternating",
        "results": best,
        "machine": machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
