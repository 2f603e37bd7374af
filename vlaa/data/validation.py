"""Validation of source rows: what makes a row a usable record, and why a bad one is quarantined.

Every check raises ``Rejected`` with a reason code (the data card counts them) and a detail a
person can act on. The reason codes are stable: dashboards and alerts group by them.

Beyond the record contract, a row must not break or bloat training (issue 15), within the
build's ``InputLimits``: a question of at most ``max_question_chars``; finite numbers only,
anywhere in the row (``non_finite_number``: NaN is written back as ``null``); an ``iou`` box
inside the image in the project's normalised [0, 1] coordinates (the paper, "iou") with an area
(``box_out_of_range``, ``invalid_box``); a ``digit`` answer the digit verifier can read; an
``mcq`` answer among the options the question lists (``answer_not_option``); and an image
within the byte, pixel and aspect-ratio caps (``vlaa.data.image_guard``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vlaa.data import rules
from vlaa.data.image_guard import ImageProblem, inspect_image
from vlaa.data.json_bounds import NON_FINITE, loads, parse_row, row_problem
from vlaa.data.limits import DEFAULT_LIMITS, InputLimits
from vlaa.records import REWARD_TYPES, Record, check_relative_image_path, is_answer_list
from vlaa.rewards.digit import parse_number

REQUIRED_FIELDS: tuple[str, ...] = ("id", "source", "image", "question", "answer", "reward_type")
UNKNOWN_SOURCE = "unknown"


class Rejected(Exception):
    """Raised by a check to quarantine the current row."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Loss:
    """A row that left the pipeline: quarantined (bad input) or dropped (by a teacher step)."""

    reason: str
    detail: str
    step: str
    record_id: str | None = None
    location: str | None = None
    source: str = UNKNOWN_SOURCE
    attempts: int | None = None

    def ref(self) -> str:
        return self.record_id or self.location or "unnamed row"

    def to_json(self) -> str:
        entry: dict[str, Any] = {
            "id": self.record_id,
            "location": self.location,
            "source": self.source,
            "step": self.step,
            "reason": self.reason,
            "detail": self.detail,
        }
        if self.attempts is not None:
            entry["attempts"] = self.attempts
        return json.dumps(entry, ensure_ascii=False)


@dataclass(frozen=True)
class Checked:
    """A valid record and the SHA-256 of the image bytes validated with it."""

    record: Record
    image_sha256: str


@dataclass
class Validator:
    """Checks rows one by one and remembers what it accepted, for the duplicate checks.

    Memory grows with the number of accepted records (an id and a 32-byte key each), not with
    their text: a 200K-record build keeps a few tens of MB here.
    """

    limits: InputLimits = DEFAULT_LIMITS
    ids: dict[str, str] = field(default_factory=dict)
    keys: dict[bytes, str] = field(default_factory=dict)

    def check(
        self, data: dict[str, Any] | bytes, image_root: Path, prefix: str, location: str
    ) -> Record:
        """``check_row``'s record."""
        return self.check_row(data, image_root, prefix, location).record

    def check_row(
        self, data: dict[str, Any] | bytes, image_root: Path, prefix: str, location: str
    ) -> Checked:
        """Parse and check one row; return the record with its image path as stored in the
        built dataset (``<prefix>/<image>``) and its image's hash. Raises ``Rejected``."""
        if isinstance(data, bytes):
            data = parse_json_line(data, self.limits)
        else:
            check_utf8_fields(data)
            check_finite(data)
        _check_fields(data)
        _check_image_path(data["image"], image_root)
        record = _to_record(data)
        _check_question(record, self.limits)
        record = _normalise_answer(record)
        if record.id in self.ids:
            raise Rejected("duplicate_id", f"duplicate id (first seen at {self.ids[record.id]})")
        image_hash = check_image(image_root / record.image, record.image, self.limits)
        key = bytes.fromhex(rules.dedup_key(image_hash, record.question))
        if key in self.keys:
            raise Rejected(
                "duplicate_image_question", f"same image and question as {self.keys[key]}"
            )
        if prefix:
            record = record.model_copy(update={"image": f"{prefix}/{record.image}"})
        self.ids[record.id] = location
        self.keys[key] = record.id
        return Checked(record, image_hash)


def peek(data: dict[str, Any] | bytes) -> dict[str, Any]:
    """Best-effort parse to name a row (id, source) even when the row is bad (bounded: a row
    over the limits is not parsed)."""
    if isinstance(data, dict):
        return data
    if row_problem(data, DEFAULT_LIMITS) is not None:
        return {}
    try:
        parsed = loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def text_or(value: Any, default: str | None = None) -> str | None:
    return value if isinstance(value, str) and value else default


def parse_json_line(raw: bytes, limits: InputLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """One JSON line as a row, within the size and depth limits, else ``Rejected``."""
    data, problem = parse_row(raw, limits)
    if problem is not None:
        raise Rejected(*problem)
    if not isinstance(data, dict):
        raise Rejected("invalid_json", f"line holds a JSON {type(data).__name__}, not an object")
    check_utf8_fields(data)
    return data


def check_finite(data: dict[str, Any]) -> None:
    """Reject a row holding NaN or an infinity anywhere (rows built in Python, or read by a
    parser that allows them); JSON text is checked as it is parsed (``json_bounds.loads``)."""
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise Rejected(NON_FINITE, f"the row holds {value}, which training cannot use")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)


def check_utf8_fields(data: dict[str, Any]) -> None:
    """Reject fields whose strings cannot be encoded as UTF-8 (lone surrogates from escapes)."""
    bad = [key for key, value in data.items() if not _encodes(value)]
    if bad:
        raise Rejected("non_utf8", f"field(s) {', '.join(bad)} hold text that is not UTF-8")


def _encodes(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodes(k) and _encodes(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodes(item) for item in value)
    return True


def _check_fields(data: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_FIELDS if data.get(name) in (None, "", [])]
    if missing:
        raise Rejected("missing_field", f"missing field(s): {', '.join(missing)}")
    reward_type = data["reward_type"]
    if reward_type not in REWARD_TYPES:
        raise Rejected(
            "unknown_reward_type",
            f"unknown reward type {reward_type!r} (expected one of {', '.join(REWARD_TYPES)})",
        )


def _check_image_path(path: Any, image_root: Path) -> None:
    """The path must be relative, stay under the image root, and not escape it by a link."""
    if not isinstance(path, str):
        raise Rejected("invalid_image_path", f"image path {path!r} is not a string")
    try:
        check_relative_image_path(path)
    except ValueError as error:
        message = str(error)
        if "absolute" in message:
            reason = "absolute_image_path"
        elif "'..'" in message:
            reason = "parent_image_path"
        else:
            reason = "invalid_image_path"
        raise Rejected(reason, message) from None
    resolved = (image_root / path).resolve()
    if not resolved.is_relative_to(image_root.resolve()):
        raise Rejected("parent_image_path", f"image path {path!r} leads outside the image root")


def _to_record(data: dict[str, Any]) -> Record:
    try:
        return Record.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'record'}: {item['msg']}"
            for item in error.errors()
        )
        raise Rejected("invalid_record", problems) from None


def _check_question(record: Record, limits: InputLimits) -> None:
    if len(record.question) > limits.max_question_chars:
        raise Rejected(
            "question_too_long",
            f"question is {len(record.question)} characters, over {limits.max_question_chars} "
            "(limits.max_question_chars)",
        )


def _check_box(box: list[float]) -> None:
    """A finite box with an area, inside the image in normalised [0, 1] coordinates."""
    if not all(math.isfinite(value) for value in box):
        raise Rejected(NON_FINITE, f"iou answer {box} holds a number that is not finite")
    if any(not 0.0 <= value <= 1.0 for value in box):
        raise Rejected(
            "box_out_of_range", f"iou answer {box} is not in normalised [0, 1] coordinates"
        )
    x1, y1, x2, y2 = box
    if x1 >= x2 or y1 >= y2:
        raise Rejected("invalid_box", f"iou answer {box} has no area (needs x1 < x2, y1 < y2)")


def _normalise_answer(record: Record) -> Record:
    """Check the answer fits its reward type; rewrite MCQ answer forms to the bare letter and
    math answers that only give coefficient values to the whole expression asked for (as the
    LaTeX the math reward parses; see ``rules.normalise_math_ground_truth``)."""
    answer = record.answer
    if record.reward_type == "iou":
        if not isinstance(answer, list):
            raise Rejected("invalid_answer", f"iou answer {answer!r} is not a list of 4 numbers")
        _check_box([float(value) for value in answer])
        return record
    if record.reward_type == "open" and is_answer_list(answer):
        return record  # annotators' answers, any of which counts
    if isinstance(answer, list):
        raise Rejected("invalid_answer", f"{record.reward_type} answer is a list, not text")
    if record.reward_type == "digit":
        _check_digit(answer)
    if record.reward_type == "math":
        context = record.meta.get("context", "")
        # The fix-up reads plain-text assignments ("a = 2*pi"): the text as the source wrote it.
        written = record.meta.get(rules.ORIGINAL_ANSWER_KEY, answer)
        fixed = rules.fix_math_answer(
            written if isinstance(written, str) else answer,
            record.question,
            context if isinstance(context, str) else "",
        )
        if fixed is not None:
            meta = {**record.meta, "answer_before_fixup": answer}
            # The template is plain text too ("y = a * sin(x)"): filled, it is rewritten as
            # LaTeX; the filled text is kept next to the answer it replaced.
            normalised = rules.normalise_math_answer(fixed)
            if normalised != fixed:
                meta["answer_fixup_plain"] = fixed
            return record.model_copy(update={"answer": normalised, "meta": meta})
    if record.reward_type == "mcq":
        letter = rules.normalise_mcq_answer(answer)
        if letter is None:
            raise Rejected("invalid_answer", f"mcq answer {answer!r} is not an option letter")
        _check_option(letter, record)
        if letter != answer:
            meta = {**record.meta, "answer_before_normalisation": answer}
            return record.model_copy(update={"answer": letter, "meta": meta})
    return record


def _check_digit(answer: str) -> None:
    """The digit verifier's own reading (``vlaa.rewards.digit.parse_number``) must accept the
    ground truth, else the record can never score: "nan", "inf", "1e999", "1_000" cannot."""
    try:
        value = float(answer)
    except ValueError:
        value = None
    if value is not None and not math.isfinite(value):
        raise Rejected(NON_FINITE, f"digit answer {answer!r} is not a finite number")
    if parse_number(answer) is None:
        raise Rejected("invalid_answer", f"digit answer {answer!r} is not a number")


def _check_option(letter: str, record: Record) -> None:
    """An MCQ answer must be one of the options: ``meta["options"]`` when the source kept
    them, else the option labels the question lists (no check when it lists none)."""
    options = record.meta.get("options")
    if isinstance(options, list) and len(options) >= 2:
        letters = "".join(chr(ord("A") + index) for index in range(min(len(options), 26)))
    else:
        letters = rules.listed_options(record.question)
    if letters and letter not in letters:
        raise Rejected(
            "answer_not_option", f"mcq answer {letter!r} is not one of the options {letters}"
        )


def check_image(path: Path, relative: str, limits: InputLimits = DEFAULT_LIMITS) -> str:
    """Open (no symbolic links), check and decode the image; return the SHA-256 of its bytes."""
    try:
        return inspect_image(path, relative, limits)
    except ImageProblem as problem:
        raise Rejected(problem.reason, problem.detail) from None
