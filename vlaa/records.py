"""The record contract shared by every step.

One record is one line of a split's ``records.jsonl``. Images are stored beside it under the
split's image root and referenced by a relative path that never escapes that root.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vlaa.errors import UserError

RewardType = Literal["digit", "mcq", "math", "iou", "open"]
Split = Literal["sft", "rl", "eval"]
REWARD_TYPES: tuple[str, ...] = ("digit", "mcq", "math", "iou", "open")
SPLITS: tuple[str, ...] = ("sft", "rl", "eval")

RECORDS_FILE = "records.jsonl"
IMAGES_DIR = "images"


class RecordError(UserError, ValueError):
    """A record that cannot be used; the message names the record and the reason."""


def check_relative_image_path(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path, else raise ``ValueError``."""
    if not path:
        raise ValueError("image path is empty")
    if "\\" in path:
        raise ValueError(f"image path {path!r} uses backslashes")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise ValueError(f"image path {path!r} is absolute")
    if ".." in pure.parts:
        raise ValueError(f"image path {path!r} contains '..'")
    return path


class Record(BaseModel):
    """One training / evaluation sample."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    image: str
    question: str = Field(min_length=1)
    # Text; a box (4 floats) for iou; or, for open, the annotators' answers (any of them counts).
    answer: str | list[float] | list[str]
    reward_type: RewardType
    caption: str = ""
    reasoning: str = ""
    response: str = ""
    has_aha: bool = False
    split: Split | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("image")
    @classmethod
    def _image_is_relative(cls, value: str) -> str:
        return check_relative_image_path(value)

    @field_validator("answer")
    @classmethod
    def _box_has_four_numbers(
        cls, value: str | list[float] | list[str]
    ) -> str | list[float] | list[str]:
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            if not all(v.strip() for v in value):
                raise ValueError("a list of answers holds an empty answer")
            return value
        if isinstance(value, list) and len(value) != 4:
            raise ValueError(f"a box answer needs 4 numbers, got {len(value)}")
        return value

    def answers(self) -> list[str]:
        """Every accepted answer text: the annotators' list, else the one answer's text."""
        if is_answer_list(self.answer):
            return list(self.answer)
        return [self.answer_text()]

    def answer_text(self) -> str:
        """The ground truth as the text a model is expected to put inside ``<answer>``."""
        if is_answer_list(self.answer):
            return json.dumps(self.answer, ensure_ascii=False)  # parse_answer_list reads it back
        if isinstance(self.answer, list):
            return "[" + ", ".join(f"{v:.3f}" for v in self.answer) + "]"
        return self.answer


def is_answer_list(answer: object) -> bool:
    """Whether ``answer`` is a list of answer texts (not a box)."""
    return isinstance(answer, list) and bool(answer) and all(isinstance(v, str) for v in answer)


def parse_answer_list(text: str) -> list[str] | None:
    """The answers of ``Record.answer_text()`` of a list (a JSON array of texts), else None."""
    if not text.startswith("[") or not text.endswith("]"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # "[[[[...": json.loads recurses once per level
        return None
    return value if is_answer_list(value) else None


def write_records(path: Path, records: Iterable[Record]) -> int:
    """Write records as JSON lines; return how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(record.model_dump_json() + "\n")
            count += 1
    return count


def read_records(path: Path) -> Iterator[Record]:
    """Stream records from a JSON-lines file, naming the line of any bad record."""
    with path.open("r", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield Record.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValueError) as error:
                raise RecordError(f"{path}:{line_number}: invalid record: {error}") from error
