"""The one evaluation format every benchmark adapter produces, and the reading helpers they share.

An adapter reads a benchmark's published files from a local folder and yields
:class:`EvalItem` s: absolute local image paths, the question as the model sees it, the
ground truth and how to score it. Images embedded in Parquet files (Hugging Face ``Image``
columns) are written once to a content-addressed cache so every item points at a real file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vlaa.errors import UserError
from vlaa.prompts import user_text

AnswerKind = Literal["mcq", "numeric", "free_form"]
# "vlmevalkit": each benchmark's prompt as VLMEvalKit builds it (vlaa.benchmarks.vlmevalkit),
# the paper's protocol; "training": the question plus the training-time task instruction.
PromptStyle = Literal["vlmevalkit", "training"]
PROMPT_STYLES: tuple[str, ...] = ("vlmevalkit", "training")
ANSWER_KINDS: tuple[str, ...] = ("mcq", "numeric", "free_form")

# Evaluation asks as training did: the task instruction of the matching reward type
# (vlaa.prompts.TASK_INSTRUCTIONS) is appended to the benchmark's own question text.
REWARD_TYPE_BY_KIND: dict[str, str] = {"mcq": "mcq", "numeric": "digit", "free_form": "math"}

CACHE_ENV = "VLAA_BENCHMARK_CACHE"


class BenchmarkDataError(UserError, ValueError):
    """A benchmark file that does not match its published layout.

    The message names the file, the record and the field (or image) that is wrong.
    """


class EvalItem(BaseModel):
    """One evaluation question, ready for generation and scoring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="unique within the benchmark")
    benchmark: str = Field(min_length=1)
    images: list[str] = Field(min_length=1, description="absolute local image paths")
    question: str = Field(description="the benchmark's question text, options included")
    prompt: str = Field(description="the user turn's text as the model sees it")
    answer: str = Field(description="ground truth: option label(s) for mcq")
    answer_kind: AnswerKind
    options: dict[str, str] = Field(
        default_factory=dict, description="option label -> option text, when the text is known"
    )
    precision: int | None = Field(None, ge=0, description="numeric: decimal places compared")
    tolerance: float | None = Field(None, ge=0, description="numeric: absolute tolerance")
    meta: dict[str, Any] = Field(
        default_factory=dict, description="benchmark metadata, incl. what grouped scores need"
    )
    empty_fields: list[str] = Field(
        default_factory=list,
        description="fields the release left empty: the item is kept, scored as a miss, counted",
    )

    @field_validator("images")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        for path in value:
            if not Path(path).is_absolute():
                raise ValueError(f"image path {path!r} is not absolute")
        return value

    @model_validator(mode="after")
    def _empty_only_when_declared(self) -> EvalItem:
        # An empty answer or prompt is a release's gap, never an adapter's slip.
        if not self.answer.strip() and "answer" not in self.empty_fields:
            raise ValueError("answer is empty but 'answer' is not in empty_fields")
        if not self.prompt.strip() and "question" not in self.empty_fields:
            raise ValueError("prompt is empty but 'question' is not in empty_fields")
        return self

    @model_validator(mode="after")
    def _numeric_rule_only_for_numbers(self) -> EvalItem:
        if self.answer_kind != "numeric" and (
            self.precision is not None or self.tolerance is not None
        ):
            raise ValueError("precision / tolerance apply to numeric answers only")
        return self

    @property
    def reward_type(self) -> str:
        """The training reward type whose instruction and verifier match this item."""
        return REWARD_TYPE_BY_KIND[self.answer_kind]


def build_prompt(question: str, answer_kind: str, task_instruction: bool = True) -> str:
    """The user text: the question, plus the training-time instruction for its answer kind."""
    if not task_instruction:
        return question.strip()
    return user_text(question.strip(), REWARD_TYPE_BY_KIND[answer_kind])


def choose_prompt(
    style: str, vlmevalkit_text: str, question: str, answer_kind: str, task_instruction: bool
) -> str:
    """The user text under ``style``: VLMEvalKit's text as built, or ``build_prompt``'s."""
    if style == "vlmevalkit":
        return vlmevalkit_text
    if style != "training":
        raise ValueError(f"unknown prompt style {style!r}; known: {', '.join(PROMPT_STYLES)}")
    return build_prompt(question, answer_kind, task_instruction)


def option_labels(count: int) -> list[str]:
    """``A``, ``B``, ... for ``count`` options."""
    if count > 26:
        raise ValueError(f"{count} options do not fit letters A-Z")
    return [chr(ord("A") + index) for index in range(count)]


def format_options(options: Mapping[str, str]) -> str:
    """Options one per line, ``A. text``, under an ``Options:`` header (VLMEvalKit's style)."""
    lines = [f"{label}. {text}" for label, text in options.items()]
    return "Options:\n" + "\n".join(lines)


def default_cache_dir() -> Path:
    """Where embedded images are written: ``$VLAA_BENCHMARK_CACHE`` or ``~/.cache/vlaa``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "vlaa" / "benchmarks"


# ----------------------------------------------------------------------------- files


class Source:
    """Where records come from, for error messages: ``<benchmark>: <file>: record <id>``."""

    def __init__(self, benchmark: str, path: Path) -> None:
        self.benchmark = benchmark
        self.path = path

    def error(self, record_id: object, problem: str) -> BenchmarkDataError:
        return BenchmarkDataError(f"{self.benchmark}: {self.path}: record {record_id!r}: {problem}")

    def file_error(self, problem: str) -> BenchmarkDataError:
        return BenchmarkDataError(f"{self.benchmark}: {self.path}: {problem}")


def require(
    record: Mapping[str, Any],
    field: str,
    source: Source,
    record_id: object,
    *,
    allow_empty: bool = False,
) -> Any:
    """``record[field]``; a clear error when it is absent, null or (unless allowed) empty."""
    if field not in record:
        raise source.error(record_id, f"missing field {field!r}")
    value = record[field]
    if value is None:
        raise source.error(record_id, f"field {field!r} is null")
    if not allow_empty and isinstance(value, str) and not value.strip():
        raise source.error(record_id, f"field {field!r} is empty")
    return value


def require_text(
    record: Mapping[str, Any],
    field: str,
    source: Source,
    record_id: object,
    *,
    allow_empty: bool = False,
) -> str:
    """``require`` for a text field; numbers (an integer answer) become their text."""
    value = require(record, field, source, record_id, allow_empty=allow_empty)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise source.error(record_id, f"field {field!r} is not text: {type(value).__name__}")
    return str(value).strip()


def content_text(
    record: Mapping[str, Any],
    field: str,
    source: Source,
    record_id: object,
    empty: list[str],
    *,
    name: str | None = None,
) -> str:
    """A question or answer field; empty or null is kept as ``""`` and noted in ``empty``.

    Releases hold such records (LogicVista's ``v1_382``); their authors keep the item and score
    it as a miss, so adapters do too. A missing field is still an error. ``name`` is the
    ``EvalItem`` field it fills (``question`` / ``answer``), default ``field``.
    """
    if field not in record:
        raise source.error(record_id, f"missing field {field!r}")
    value = record[field]
    if value is None or (isinstance(value, str) and not value.strip()):
        empty.append(name or field)
        return ""
    return require_text(record, field, source, record_id)


def find_one(root: Path, patterns: Sequence[str], what: str, benchmark: str) -> Path:
    """The first file matching one of ``patterns`` (globs relative to ``root``), in order."""
    for pattern in patterns:
        matches = sorted(root.glob(pattern))
        if matches:
            return matches[0]
    tried = ", ".join(patterns)
    raise BenchmarkDataError(f"{benchmark}: no {what} under {root} (looked for: {tried})")


def find_all(root: Path, patterns: Sequence[str]) -> list[Path]:
    """All files matching the first pattern that matches anything (sharded Parquet)."""
    for pattern in patterns:
        matches = sorted(root.glob(pattern))
        if matches:
            return matches
    return []


def read_records(path: Path, benchmark: str) -> list[tuple[str | None, dict[str, Any]]]:
    """Rows of a ``.parquet``, ``.jsonl`` or ``.json`` file, with their key when keyed.

    A JSON object of objects (``{"v1_0": {...}}``, LogicVista and MathVista's annotation
    file) gives its keys; arrays, JSON lines and Parquet rows give ``None``.
    """
    source = Source(benchmark, path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return [(None, row) for row in pq.read_table(path).to_pylist()]
        text = path.read_text(encoding="utf-8")
        if suffix == ".jsonl":
            rows = []
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    try:
                        rows.append((None, json.loads(line)))
                    except json.JSONDecodeError as error:
                        raise source.file_error(f"line {number}: invalid JSON: {error}") from error
            return _check_objects(rows, source)
        data = json.loads(text)
    except BenchmarkDataError:
        raise
    except (OSError, ValueError) as error:  # ArrowInvalid and JSONDecodeError are ValueErrors
        raise source.file_error(f"cannot read: {error}") from error
    if isinstance(data, list):
        return _check_objects([(None, row) for row in data], source)
    if isinstance(data, dict):
        return _check_objects([(str(key), row) for key, row in data.items()], source)
    raise source.file_error(f"expected a JSON array or object, got {type(data).__name__}")


def _check_objects(
    rows: list[tuple[str | None, Any]], source: Source
) -> list[tuple[str | None, dict[str, Any]]]:
    for index, (key, row) in enumerate(rows):
        if not isinstance(row, dict):
            where = key if key is not None else f"#{index}"
            raise source.error(where, f"expected an object, got {type(row).__name__}")
    return rows


# ----------------------------------------------------------------------------- images


class ImageResolver:
    """Turns a record's image field into an absolute local path, or a clear error.

    A field is either a path (relative to one of the benchmark's image folders) or a Hugging
    Face ``Image`` value ``{"bytes": ..., "path": ...}``; embedded bytes are written to
    ``cache_dir/<benchmark>/<sha256>.<ext>`` once and reused.
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def resolve(
        self,
        value: Any,
        *,
        bases: Iterable[Path],
        source: Source,
        record_id: object,
        field: str,
    ) -> str:
        bases = list(bases)
        if isinstance(value, dict):
            data = value.get("bytes")
            name = value.get("path") or ""
            if data:
                return str(self._cached(bytes(data), str(name), source.benchmark))
            if name:
                return self._existing(str(name), bases, source, record_id, field)
            raise source.error(record_id, f"field {field!r} holds an image with no bytes or path")
        if isinstance(value, bytes | bytearray):
            return str(self._cached(bytes(value), "", source.benchmark))
        if isinstance(value, str) and value.strip():
            return self._existing(value.strip(), bases, source, record_id, field)
        raise source.error(record_id, f"field {field!r} names no image")

    def _existing(
        self, name: str, bases: list[Path], source: Source, record_id: object, field: str
    ) -> str:
        candidates = [Path(name)] if Path(name).is_absolute() else [b / name for b in bases]
        for candidate in candidates:
            if candidate.is_file():
                return str(candidate.resolve())
        tried = ", ".join(str(c) for c in candidates)
        raise source.error(
            record_id, f"field {field!r}: image file not found: {name} (tried {tried})"
        )

    def _cached(self, data: bytes, name: str, benchmark: str) -> Path:
        digest = hashlib.sha256(data).hexdigest()
        suffix = Path(name).suffix.lower() or _sniff_suffix(data)
        target = (self.cache_dir / benchmark / f"{digest}{suffix}").resolve()
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and renamed, so a concurrent reader never sees half.
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target


def _sniff_suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    if data[:4] in (b"GIF8",):
        return ".gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return ".webp"
    return ".img"


@dataclass(frozen=True)
class LoadContext:
    """What every loader gets besides its folder: where images go, how many items to keep, and
    which prompt to build (``choose_prompt``'s style and the training instruction)."""

    images: ImageResolver
    limit: int | None = None
    task_instruction: bool = True
    prompt_style: str = "training"

    def full(self, items: Sized) -> bool:
        """``limit`` items are loaded already."""
        return self.limit is not None and len(items) >= self.limit

    def records(
        self, path: Path, benchmark: str, items: Sized
    ) -> Iterator[tuple[int, str | None, dict[str, Any]]]:
        """``path``'s records (index, key, record) until ``items`` holds ``limit`` items."""
        for index, (key, record) in enumerate(read_records(path, benchmark)):
            if self.full(items):
                return
            yield index, key, record

    def prompt(self, vlmevalkit_text: str, question: str, answer_kind: str) -> str:
        return choose_prompt(
            self.prompt_style, vlmevalkit_text, question, answer_kind, self.task_instruction
        )

    def image(
        self, value: Any, source: Source, record_id: object, field: str, *bases: Path
    ) -> list[str]:
        """An item's one image: ``field``'s value resolved under ``bases`` (``ImageResolver``)."""
        resolved = self.images.resolve(
            value, bases=bases, source=source, record_id=record_id, field=field
        )
        return [resolved]
