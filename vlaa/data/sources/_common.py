"""Helpers every published-layout reader shares: finding files, streaming records, making rows.

Readers stream: JSON lines are read line by line and JSON arrays item by item
(``vlaa.data.json_array_scan``), so a reader never holds a whole annotation file, and every line
or item is held to the build's ``InputLimits`` (bytes, nesting depth, finite numbers) before it
is parsed. A record that cannot be used becomes a
``SourceRow`` with ``problem = (reason, detail)`` (the builder quarantines it); nothing is
dropped silently. Reason codes match the builder's where the cause is the same
(``invalid_json``, ``non_utf8``, ``missing_field``, ``invalid_image_path``, ``invalid_answer``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from vlaa.data.json_array_scan import ArrayBroken, iter_array_items
from vlaa.data.json_bounds import parse_row, read_lines, too_large
from vlaa.data.limits import current_limits
from vlaa.data.sources.base import (
    BOTH_ROLES,
    SourceError,
    SourceReader,
    SourceRow,
    SourceSpec,
)
from vlaa.records import check_relative_image_path

# Options every reader accepts (each reader documents its own extra ones).
ANNOTATION_OPTION = "annotation"  # annotation file, relative to the source folder
IMAGE_ROOT_OPTION = "image_root"  # folder the annotation's image paths are relative to

# (number, record or None, problem or None): the number is the 1-based line of a JSON-lines
# file or the 0-based item index of a JSON array.
Entry = tuple[int, dict[str, Any] | None, tuple[str, str] | None]

_IMAGE_TOKEN_RE = re.compile(r"\s*<image>\s*")
# A leading option label: "A)", "A.", "A:", "(A)", followed by the option text.
_OPTION_LABEL_RE = re.compile(r"^\s*(?:\(\s*([A-Za-z])\s*\)|([A-Za-z])\s*[.):])\s*")


# ----------------------------------------------------------------------------- files


def check_options(spec: SourceSpec, extra: Iterable[str] = ()) -> None:
    """Refuse options the reader does not know, so a typo does not silently change nothing."""
    known = {ANNOTATION_OPTION, IMAGE_ROOT_OPTION, *extra}
    unknown = sorted(set(spec.options) - known)
    if unknown:
        raise SourceError(
            f"source {spec.kind!r}: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )


def locate_annotation(root: Path, spec: SourceSpec, candidates: Sequence[str]) -> tuple[Path, Path]:
    """``(source folder, annotation file)`` of a source.

    ``root`` may be the annotation file itself (its folder is then the source folder). Else
    ``options["annotation"]`` names the file, or the first existing of ``candidates`` (paths
    relative to ``root``, tried in order) is used.
    """
    if root.is_file():
        return root.parent, root
    if not root.is_dir():
        raise SourceError(f"source {spec.kind!r}: folder {root} does not exist")
    override = spec.options.get(ANNOTATION_OPTION)
    names = [str(override)] if override else list(candidates)
    for name in names:
        path = root / name
        if path.is_file():
            return root, path
    raise SourceError(
        f"source {spec.kind!r}: no annotation file under {root} (looked for: {', '.join(names)})"
    )


def image_root(base: Path, spec: SourceSpec, default: Path) -> Path:
    """The folder image paths are relative to: ``options["image_root"]`` under ``base``, else
    ``default``."""
    override = spec.options.get(IMAGE_ROOT_OPTION)
    return base / str(override) if override else default


def label(path: Path, base: Path) -> str:
    """A file's name for locations: relative to the source folder when it lies under it."""
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)


# ----------------------------------------------------------------------------- streaming


def iter_records(path: Path, prefix: str = "item") -> Iterator[Entry]:
    """Records of a ``.jsonl`` file (line by line) or a JSON file (items under ``prefix``).

    Unreadable JSON lines come back as problems; an unreadable JSON array, or one with no
    items under ``prefix`` (a different layout), raises ``SourceError``.
    """
    if path.suffix.lower() == ".jsonl":
        return iter_json_lines(path)
    return iter_json_array(path, prefix)


def iter_json_lines(path: Path) -> Iterator[Entry]:
    limits = current_limits()
    with path.open("rb") as handle:
        for number, raw in read_lines(handle, limits.max_row_bytes):
            if raw is None:
                yield number, None, too_large(limits)
                continue
            if not raw.strip():
                continue
            data, problem = parse_row(raw, limits)
            if problem is not None:
                yield number, None, problem
            elif not isinstance(data, dict):
                kind = type(data).__name__
                yield number, None, ("invalid_json", f"line holds a JSON {kind}, not an object")
            else:
                yield number, data, None


def iter_json_array(path: Path, prefix: str = "item") -> Iterator[Entry]:
    count = 0
    with path.open("rb") as handle:
        try:
            for item in iter_array_items(handle, prefix, current_limits()):
                count += 1
                if item.problem is not None:
                    yield item.index, None, item.problem
                elif isinstance(item.value, dict):
                    yield item.index, item.value, None
                else:
                    kind = type(item.value).__name__
                    yield (
                        item.index,
                        None,
                        ("invalid_json", f"item is a JSON {kind}, not an object"),
                    )
        except ArrayBroken as error:
            raise SourceError(f"{path}: invalid JSON after {count} item(s): {error}") from error
    if count == 0:
        raise SourceError(f"{path}: no records under {prefix!r}; is this the published layout?")


def map_records(
    annotation: Path,
    maker: RowMaker,
    make_row: Callable[[int, dict[str, Any]], SourceRow | None],
    prefix: str = "item",
) -> Generator[SourceRow, None, None]:
    """Every entry of ``annotation`` as a row: an unreadable one as the maker's problem row, a
    readable one through ``make_row`` (which returns None for entries not of this source)."""
    for number, record, problem in iter_records(annotation, prefix):
        if record is None:
            assert problem is not None
            yield maker.bad(number, *problem)
            continue
        row = make_row(number, record)
        if row is not None:
            yield row


def reader(
    kind: str,
    spec: SourceSpec,
    rows: Generator[SourceRow, None, None],
    roles: frozenset[str] = BOTH_ROLES,
) -> SourceReader:
    """The reader of one source kind: ``spec.limit`` applied, images stored under ``kind/``."""
    return SourceReader(name=kind, rows=limited(rows, spec.limit), image_prefix=kind, roles=roles)


def limited(rows: Generator[SourceRow, None, None], limit: int | None) -> Iterator[SourceRow]:
    """At most ``limit`` rows; the underlying reader is closed (its file too) when done."""
    with closing(rows):
        yield from islice(rows, limit)


# ----------------------------------------------------------------------------- fields


def text(record: dict[str, Any], field: str) -> str | None:
    """A text field stripped, numbers as their text; ``None`` when absent, empty or not text."""
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    stripped = str(value).strip()
    return stripped or None


def strip_image_token(value: str) -> str:
    """The text without LLaVA's ``<image>`` placeholder(s)."""
    return _IMAGE_TOKEN_RE.sub("\n", value).strip()


def first_exchange(conversations: Any) -> tuple[str | None, str | None]:
    """The first human turn of a LLaVA-style conversation and the assistant turn after it."""
    if not isinstance(conversations, list):
        return None, None
    question: str | None = None
    for turn in conversations:
        if not isinstance(turn, dict):
            continue
        role = str(turn.get("from", turn.get("role", ""))).lower()
        value = turn.get("value", turn.get("content"))
        if not isinstance(value, str):
            continue
        if question is None and role in ("human", "user"):
            question = value
        elif question is not None and role in ("gpt", "assistant"):
            return question, value
    return question, None


def box_problem(box: list[float]) -> str | None:
    """Why ``box`` is not a normalised ``[x1, y1, x2, y2]`` box, or ``None`` when it is."""
    if any(not 0.0 <= value <= 1.0 for value in box):
        return f"box {box} is not in normalised [0, 1] coordinates"
    x1, y1, x2, y2 = box
    if x1 >= x2 or y1 >= y2:
        return f"box {box} has no area (needs x1 < x2 and y1 < y2)"
    return None


def option_letters(count: int) -> list[str]:
    return [chr(ord("A") + index) for index in range(count)]


def strip_option_label(option: str) -> tuple[str | None, str]:
    """``("A", "text")`` for ``"A) text"`` / ``"(A) text"`` / ``"A. text"``; ``(None, option)``
    when the option carries no label."""
    match = _OPTION_LABEL_RE.match(option)
    if match is None:
        return None, option.strip()
    letter = (match.group(1) or match.group(2)).upper()
    return letter, option[match.end() :].strip()


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowMaker:
    """Makes the rows of one annotation file of one source kind.

    Ids are ``<kind>-<source id>`` so they stay unique across sources; ``meta`` keeps the
    original ids.
    """

    kind: str
    image_root: Path
    file_label: str

    def location(self, number: int) -> str:
        return f"{self.file_label}:{number}"

    def row(
        self,
        number: int,
        *,
        record_id: str,
        image: str,
        question: str,
        answer: str | list[float],
        reward_type: str,
        meta: dict[str, Any],
    ) -> SourceRow:
        """A usable row, unless its image path is unsafe (then it carries that problem)."""
        data: dict[str, Any] = {
            "id": f"{self.kind}-{record_id}",
            "source": self.kind,
            "image": image,
            "question": question,
            "answer": answer,
            "reward_type": reward_type,
            "meta": meta,
        }
        problem = None
        try:
            check_relative_image_path(image)
        except ValueError as error:
            problem = ("invalid_image_path", str(error))
        return SourceRow(data, self.image_root, self.location(number), problem)

    def bad(
        self,
        number: int,
        reason: str,
        detail: str,
        *,
        record_id: str | None = None,
        **known: Any,
    ) -> SourceRow:
        """A row the reader knows is unusable, with what could be read of it."""
        data: dict[str, Any] = {"source": self.kind}
        if record_id is not None:
            data["id"] = f"{self.kind}-{record_id}"
        data.update({key: value for key, value in known.items() if value is not None})
        return SourceRow(data, self.image_root, self.location(number), (reason, detail))
