"""A folder in this project's own record format: ``records.jsonl`` plus ``images/``.

This is what the build writes for each split and what the synthetic generator produces, so a
built dataset (or any data converted to the record contract of vlaa/records.py) can be read back in.
Lines are handed over as raw bytes, so non-UTF-8 and invalid JSON lines are quarantined by the
builder with the same reasons as anywhere else; a line over ``limits.max_row_bytes`` is not held
at all, it comes as a ``row_too_large`` problem.

Options: ``image_prefix`` (default ""): put in front of image paths in the built dataset, needed
when two record folders feed one build.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vlaa.data.json_bounds import read_lines, too_large
from vlaa.data.limits import current_limits
from vlaa.data.sources.base import SourceError, SourceReader, SourceRow, SourceSpec
from vlaa.records import IMAGES_DIR, RECORDS_FILE


def open_records_folder(spec: SourceSpec, root: Path) -> SourceReader:
    records_file = root / RECORDS_FILE
    if not records_file.is_file():
        raise SourceError(f"source {spec.path!r} is not a folder holding {RECORDS_FILE}")
    prefix = str(spec.options.get("image_prefix", ""))
    return SourceReader(
        name=spec.kind,
        rows=_rows(records_file, root / IMAGES_DIR, spec.limit),
        image_prefix=prefix,
    )


def _rows(records_file: Path, image_root: Path, limit: int | None) -> Iterator[SourceRow]:
    count = 0
    max_bytes = current_limits().max_row_bytes
    with records_file.open("rb") as handle:
        # At most max_row_bytes of a line are held: the rest of a longer one is skipped.
        for number, raw in read_lines(handle, max_bytes):
            if raw is not None and not raw.strip():
                continue
            if limit is not None and count >= limit:
                return
            count += 1
            location = f"{RECORDS_FILE}:{number}"
            if raw is None:
                yield SourceRow({}, image_root, location, too_large(current_limits()))
                continue
            yield SourceRow(data=raw.rstrip(b"\r\n"), image_root=image_root, location=location)
