"""The build_dataset step: source records -> validated -> eval held out -> teacher -> splits.

The plain-Python logic of the KFP component (callable without KFP):

1. load the source (the synthetic CLEVR-Math-style generator, or a folder holding
   ``records.jsonl`` + ``images/``),
2. validate every line and quarantine bad ones with a reason (``card_dir/quarantine.jsonl``),
3. hold out ``eval_size`` records for evaluation before any teacher sees them,
4. run the teacher steps (caption, reason, rewrite + word-delta filter, verify) on the rest,
   dropping records with a reason (``card_dir/drops.jsonl``),
5. split by the aha keywords into SFT (none) and RL (some), and
6. write each split as ``records.jsonl`` + ``images/`` and the data card (JSON + Markdown).

Every input line ends in exactly one split, in quarantine or in the drops; the data card's
counts are checked to add up. Losing more than ``max_drop_share`` fails the build.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import random
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tqdm import tqdm

from vlaa.data import rules
from vlaa.data.datacard import DataCard
from vlaa.data.offline_teacher import OfflineTeacher, TeacherError
from vlaa.data.synthetic import SyntheticConfig, SyntheticMix, generate
from vlaa.records import (
    IMAGES_DIR,
    RECORDS_FILE,
    REWARD_TYPES,
    Record,
    check_relative_image_path,
    write_records,
)

logger = logging.getLogger(__name__)

SYNTHETIC = "synthetic"
QUARANTINE_FILE = "quarantine.jsonl"
DROPS_FILE = "drops.jsonl"
REQUIRED_FIELDS: tuple[str, ...] = ("id", "source", "image", "question", "answer", "reward_type")
UNKNOWN_SOURCE = "unknown"


class BuildDatasetConfig(BaseModel):
    """Settings of one dataset build; the defaults are the default (local, CPU) run's."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        default=SYNTHETIC,
        description="'synthetic', or a folder holding records.jsonl and images/",
    )
    num_samples: int = Field(default=600, ge=1, description="synthetic scenes to generate")
    seed: int = 0
    image_size: int = Field(default=112, ge=48, le=1024, description="synthetic image side")
    mix: SyntheticMix = Field(default_factory=SyntheticMix, description="synthetic families")
    max_objects: int = Field(default=4, ge=1, le=9, description="objects per synthetic scene")
    eval_size: int = Field(default=100, ge=0, description="records held out before the teacher")
    aha_share: float = Field(default=0.4, ge=0, le=1, description="offline teacher aha share")
    teacher_error_rate: float = Field(
        default=0.05, ge=0, le=1, description="offline teacher mistakes (dropped by verify)"
    )
    max_rewrite_word_delta: int = Field(default=rules.MAX_REWRITE_WORD_DELTA, ge=0)
    max_drop_share: float = Field(
        default=0.2, ge=0, le=1, description="fail when more records are lost than this"
    )

    def synthetic_config(self) -> SyntheticConfig:
        return SyntheticConfig(
            seed=self.seed,
            num_samples=self.num_samples,
            image_size=self.image_size,
            mix=self.mix,
            max_objects=self.max_objects,
        )


class DatasetBuildError(RuntimeError):
    """The build cannot produce a usable dataset; the message says why and what to look at."""


class Teacher(Protocol):
    """The four teacher steps; ``OfflineTeacher`` and LLM-backed teachers both fit."""

    def caption(self, record: Record) -> str: ...

    def reason(self, record: Record, caption: str) -> str: ...

    def rewrite(self, text: str) -> str: ...

    def verify(self, response_answer: str, ground_truth: str) -> str: ...

    def labels(self) -> dict[str, Any]: ...


@dataclass
class _Loss:
    """A record that left the pipeline: quarantined (bad input) or dropped (by the teacher)."""

    reason: str
    detail: str
    record_id: str | None = None
    line: int | None = None
    source: str = UNKNOWN_SOURCE

    def ref(self) -> str:
        return self.record_id if self.record_id else f"line {self.line}"

    def to_json(self) -> str:
        entry = {
            "id": self.record_id,
            "line": self.line,
            "source": self.source,
            "reason": self.reason,
            "detail": self.detail,
        }
        return json.dumps(entry, ensure_ascii=False)


class _Rejected(Exception):
    """Raised inside validation to quarantine the current line."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Seen:
    """What validation has accepted so far, for the duplicate checks."""

    ids: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


def build_dataset(
    config: BuildDatasetConfig,
    sft_dir: Path,
    rl_dir: Path,
    eval_dir: Path,
    card_dir: Path,
    teacher: Teacher | None = None,
) -> DataCard:
    """Build the SFT, RL and eval splits and the data card; return the card.

    ``teacher`` defaults to the offline teacher configured by ``config``. Raises
    ``DatasetBuildError`` when more than ``config.max_drop_share`` of the records are lost;
    the card, ``quarantine.jsonl`` and ``drops.jsonl`` are written to ``card_dir`` first.
    """
    _check_distinct_dirs(sft_dir, rl_dir, eval_dir)
    teacher = teacher or OfflineTeacher(
        aha_share=config.aha_share, error_rate=config.teacher_error_rate, seed=config.seed
    )
    card = DataCard(source=config.source, seed=config.seed, config=config.model_dump(mode="json"))
    card_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vlaa-build-") as scratch:
        source_dir = _prepare_source(config, Path(scratch))
        image_root = source_dir / IMAGES_DIR
        candidates, quarantined = _load(source_dir / RECORDS_FILE, image_root, card)
        _write_losses(card_dir / QUARANTINE_FILE, quarantined)
        _fail_if_too_lossy(card, config, card_dir)

        evaluation, training = _hold_out(candidates, config)
        card.teacher = teacher.labels()
        kept, dropped = _distil(training, teacher, config, card)
        _write_losses(card_dir / DROPS_FILE, dropped)
        evaluation = [_as_eval(record) for record in evaluation]
        for record in evaluation:
            card.count_kept(record.source, "eval", record.reward_type, False)
        _check_accounting(card)
        card.write(card_dir)
        _fail_if_too_lossy(card, config, card_dir)

        splits = {
            "sft": [r for r in kept if r.split == "sft"],
            "rl": [r for r in kept if r.split == "rl"],
            "eval": evaluation,
        }
        for name, directory in (("sft", sft_dir), ("rl", rl_dir), ("eval", eval_dir)):
            _write_split(directory, splits[name], image_root)
    logger.info(
        "built dataset: sft %d, rl %d, eval %d; quarantined %d, dropped %d (%.1f%% lost)",
        card.splits["sft"],
        card.splits["rl"],
        card.splits["eval"],
        card.quarantined,
        card.dropped,
        100 * card.lost_share,
    )
    return card


def _check_distinct_dirs(*dirs: Path) -> None:
    resolved = [d.resolve() for d in dirs]
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"the sft, rl and eval directories must differ: {[str(d) for d in dirs]}")


def _prepare_source(config: BuildDatasetConfig, scratch: Path) -> Path:
    """The folder to read: generated into ``scratch`` for 'synthetic', else the given one."""
    if config.source == SYNTHETIC:
        source_dir = scratch / "synthetic-source"
        pairs = generate(config.synthetic_config(), source_dir / IMAGES_DIR)
        write_records(source_dir / RECORDS_FILE, (record for record, _ in pairs))
        return source_dir
    source_dir = Path(config.source)
    if not (source_dir / RECORDS_FILE).is_file():
        raise DatasetBuildError(
            f"source {config.source!r} is neither 'synthetic' nor a folder holding {RECORDS_FILE}"
        )
    return source_dir


# ---------------------------------------------------------------- validation and quarantine


def _load(records_file: Path, image_root: Path, card: DataCard) -> tuple[list[Record], list[_Loss]]:
    """Validate every line; return the good records and the quarantined ones (also logged)."""
    lines = records_file.read_bytes().split(b"\n")
    seen = _Seen()
    good: list[Record] = []
    quarantined: list[_Loss] = []
    for number, raw in enumerate(tqdm(lines, desc="validate", unit="line"), start=1):
        if not raw.strip():
            continue
        data = _peek(raw)
        source = _text_or(data.get("source"), UNKNOWN_SOURCE)
        card.count_original(source)
        try:
            good.append(_validate(raw, number, image_root, seen))
        except _Rejected as rejected:
            loss = _Loss(rejected.reason, rejected.detail, _text_or(data.get("id")), number, source)
            logger.warning("quarantined %s: %s", loss.ref(), loss.detail)
            card.count_quarantined(source, loss.reason)
            quarantined.append(loss)
    return good, quarantined


def _peek(raw: bytes) -> dict[str, Any]:
    """Best-effort parse to name a line's record (id, source) even when the line is bad."""
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _text_or(value: Any, default: str | None = None) -> str | None:
    return value if isinstance(value, str) and value else default


def _validate(raw: bytes, number: int, image_root: Path, seen: _Seen) -> Record:
    """Parse and check one line; raise ``_Rejected`` with a reason code for a bad one."""
    data = _parse_json(raw)
    _check_fields(data)
    _check_image_path(data["image"], image_root)
    record = _to_record(data)
    record = _normalise_answer(record)
    if record.id in seen.ids:
        raise _Rejected("duplicate_id", f"duplicate id (first seen on line {seen.ids[record.id]})")
    image_hash = _check_image(record.image, image_root)
    key = rules.dedup_key(image_hash, record.question)
    if key in seen.keys:
        raise _Rejected("duplicate_image_question", f"same image and question as {seen.keys[key]}")
    seen.ids[record.id] = number
    seen.keys[key] = record.id
    return record


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Rejected(
            "non_utf8", f"line is not valid UTF-8 ({error.reason} at byte {error.start})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _Rejected("invalid_json", f"line is not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise _Rejected("invalid_json", f"line holds a JSON {type(data).__name__}, not an object")
    bad = _non_utf8_fields(data)
    if bad:
        raise _Rejected("non_utf8", f"field(s) {', '.join(bad)} hold text that is not UTF-8")
    return data


def _non_utf8_fields(data: dict[str, Any]) -> list[str]:
    """Fields whose strings cannot be encoded as UTF-8 (lone surrogates from JSON escapes)."""
    return [key for key, value in data.items() if not _encodes(value)]


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
        raise _Rejected("missing_field", f"missing field(s): {', '.join(missing)}")
    reward_type = data["reward_type"]
    if reward_type not in REWARD_TYPES:
        raise _Rejected(
            "unknown_reward_type",
            f"unknown reward type {reward_type!r} (expected one of {', '.join(REWARD_TYPES)})",
        )


def _check_image_path(path: Any, image_root: Path) -> None:
    """The path must be relative, stay under the image root, and not escape it by a link."""
    if not isinstance(path, str):
        raise _Rejected("invalid_image_path", f"image path {path!r} is not a string")
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
        raise _Rejected(reason, message) from None
    resolved = (image_root / path).resolve()
    if not resolved.is_relative_to(image_root.resolve()):
        raise _Rejected("parent_image_path", f"image path {path!r} leads outside the image root")


def _to_record(data: dict[str, Any]) -> Record:
    try:
        return Record.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'record'}: {item['msg']}"
            for item in error.errors()
        )
        raise _Rejected("invalid_record", problems) from None


def _normalise_answer(record: Record) -> Record:
    """Check the answer fits its reward type; rewrite MCQ answer forms to the bare letter."""
    answer = record.answer
    if record.reward_type == "iou":
        if not isinstance(answer, list):
            raise _Rejected("invalid_answer", f"iou answer {answer!r} is not a list of 4 numbers")
        return record
    if isinstance(answer, list):
        raise _Rejected("invalid_answer", f"{record.reward_type} answer is a list, not text")
    if record.reward_type == "digit":
        try:
            float(answer)
        except ValueError:
            raise _Rejected("invalid_answer", f"digit answer {answer!r} is not a number") from None
    if record.reward_type == "mcq":
        letter = rules.normalise_mcq_answer(answer)
        if letter is None:
            raise _Rejected("invalid_answer", f"mcq answer {answer!r} is not an option letter")
        if letter != answer:
            meta = {**record.meta, "answer_before_normalisation": answer}
            return record.model_copy(update={"answer": letter, "meta": meta})
    return record


def _check_image(relative: str, image_root: Path) -> str:
    """Open and decode the image fully; return the SHA-256 of its bytes."""
    path = image_root / relative
    if not path.is_file():
        raise _Rejected("missing_image", f"image {relative!r} does not exist")
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except UnidentifiedImageError:
        raise _Rejected(
            "corrupt_image", f"image {relative!r} is corrupt (cannot identify image file)"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise _Rejected("corrupt_image", f"image {relative!r} is corrupt ({error})") from None
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- eval hold-out and teacher


def _hold_out(
    records: list[Record], config: BuildDatasetConfig
) -> tuple[list[Record], list[Record]]:
    """Pick ``eval_size`` records (seeded) before any teacher step; return (eval, rest)."""
    if config.eval_size >= len(records):
        raise DatasetBuildError(
            f"eval_size {config.eval_size} leaves nothing to train on: only {len(records)} "
            "valid records"
        )
    chosen = set(
        random.Random(f"vlaa-eval:{config.seed}").sample(range(len(records)), config.eval_size)
    )
    evaluation = [r for i, r in enumerate(records) if i in chosen]
    training = [r for i, r in enumerate(records) if i not in chosen]
    return evaluation, training


def _as_eval(record: Record) -> Record:
    """Eval records keep question and answer; teacher fields stay empty."""
    return record.model_copy(
        update={"caption": "", "reasoning": "", "response": "", "has_aha": False, "split": "eval"}
    )


def _distil(
    records: Iterable[Record], teacher: Teacher, config: BuildDatasetConfig, card: DataCard
) -> tuple[list[Record], list[_Loss]]:
    """Run the teacher on each record; return the kept (split set) and the dropped."""
    kept: list[Record] = []
    dropped: list[_Loss] = []
    for record in tqdm(records, desc="teacher", unit="record"):
        result = _distil_one(record, teacher, config)
        if isinstance(result, _Loss):
            logger.info("dropped %s: %s", result.ref(), result.detail)
            card.count_dropped(record.source, result.reason)
            dropped.append(result)
            continue
        card.count_kept(result.source, result.split or "sft", result.reward_type, result.has_aha)
        kept.append(result)
    return kept, dropped


def _distil_one(record: Record, teacher: Teacher, config: BuildDatasetConfig) -> Record | _Loss:
    """Caption, reason, rewrite (word-delta filter), verify, then the aha split."""

    def drop(reason: str, detail: str) -> _Loss:
        return _Loss(reason, detail, record.id, None, record.source)

    try:
        caption = record.caption or teacher.caption(record)
        output = teacher.reason(record, caption)
        _, answer = rules.split_reasoning_output(output)
        if answer is None:
            return drop("no_answer", "the teacher's reasoning gives no answer")
        rewritten = teacher.rewrite(output)
        if not rules.rewrite_within_limit(output, rewritten, config.max_rewrite_word_delta):
            delta = rules.word_count(rewritten) - rules.word_count(output)
            return drop(
                "rewrite_word_delta",
                f"the rewrite changed the word count by {delta:+d} "
                f"(limit {config.max_rewrite_word_delta})",
            )
        reasoning, answer = rules.split_reasoning_output(rewritten)
        if answer is None:
            return drop("no_answer", "the rewritten reasoning lost its answer")
        verdict_text = teacher.verify(answer, record.answer_text())
    except TeacherError as error:
        return drop("teacher_error", str(error))
    verdict = rules.parse_verification(verdict_text)
    if verdict is None:
        return drop("verify_unparsable", f"the judge said {verdict_text[:80]!r}, not Yes or No")
    if not verdict:
        return drop(
            "verify_no",
            f"the teacher answered {answer!r}, the ground truth is {record.answer_text()!r}",
        )
    aha = rules.has_aha(reasoning)
    return record.model_copy(
        update={
            "caption": caption,
            "reasoning": reasoning,
            "response": rules.format_response(reasoning, answer),
            "has_aha": aha,
            "split": "rl" if aha else "sft",
            "meta": _teacher_meta(record, teacher),
        }
    )


def _teacher_meta(record: Record, teacher: Teacher) -> dict[str, Any]:
    """The record's meta plus the teacher labels; a caption from the input is marked so."""
    labels = copy.deepcopy(teacher.labels())
    if record.caption:
        labels.setdefault("teacher_models", {})["caption"] = "provided"
    return {**record.meta, **labels}


# ---------------------------------------------------------------- outputs and checks


def _write_losses(path: Path, losses: list[_Loss]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for loss in losses:
            handle.write(loss.to_json() + "\n")


def _write_split(directory: Path, records: list[Record], image_root: Path) -> None:
    """``records.jsonl`` plus only the images these records use (stale outputs replaced)."""
    directory.mkdir(parents=True, exist_ok=True)
    images_dir = directory / IMAGES_DIR
    if images_dir.exists():
        shutil.rmtree(images_dir)
    for relative in sorted({record.image for record in records}):
        target = images_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image_root / relative, target)
    write_records(directory / RECORDS_FILE, records)


def _check_accounting(card: DataCard) -> None:
    """Every input line must be in a split, in quarantine or in the drops."""
    gaps = card.unaccounted()
    if gaps:
        raise DatasetBuildError(f"records went missing during the build (source: gap): {gaps}")


def _fail_if_too_lossy(card: DataCard, config: BuildDatasetConfig, card_dir: Path) -> None:
    if card.lost_share <= config.max_drop_share:
        return
    card.write(card_dir)
    reasons = ", ".join(f"{reason} ({count})" for reason, count in card.top_losses())
    raise DatasetBuildError(
        f"the build lost {card.lost_share:.1%} of {card.original} records "
        f"({card.quarantined} quarantined, {card.dropped} dropped), above max_drop_share "
        f"{config.max_drop_share:.1%}; top reasons: {reasons}; see {card_dir / QUARANTINE_FILE}"
        f" and {card_dir / DROPS_FILE}"
    )
