"""The data engine: sources -> validated -> eval held out -> teacher -> splits.

The build orchestration behind the build_dataset component and ``vlaa build-dataset``, streamed
end to end so a
200K-record build, or a 600 MB released file, costs memory for the records in flight only:

1. read every source (the synthetic generator, a records folder, the released VLAA-Thinking
   files, or the published source datasets through ``vlaa.data.sources``),
2. validate each row and quarantine bad ones with a reason (``card_dir/quarantine.jsonl``);
   valid rows go to a scratch file; every row is held to ``config.limits`` (bytes and depth
   while parsing, question length, image size, numbers, boxes, options: docs/data.md),
3. hold out ``eval_size`` records for evaluation before any teacher sees them,
4. run the teacher steps (caption, reason, rewrite + word-delta filter, verify) on the rest,
   concurrently, dropping records with a reason (``card_dir/drops.jsonl``),
5. split by the aha keywords into SFT (none) and RL (some), and
6. write each split as ``records.jsonl`` + ``images/`` (in input order) and the data card;
   an image is written from bytes whose hash is the validated one (a file swapped since is a
   drop at step ``write``, never copied).

Every input row ends in exactly one split, in quarantine or in the drops; the data card's counts
are checked to add up. Losing more than ``max_drop_share`` fails the build.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from vlaa.data.config import SYNTHETIC, BuildDatasetConfig
from vlaa.data.datacard import DataCard
from vlaa.data.distil import DistilSettings, StepProgress, WorkItem, as_async, distil_stream
from vlaa.data.image_guard import ImageProblem, read_verified
from vlaa.data.limits import DEFAULT_LIMITS, use_limits
from vlaa.data.offline_teacher import OfflineTeacher
from vlaa.data.sources import SourceReader, SourceSpec, open_source
from vlaa.data.sources.base import SourceError, SourceRow
from vlaa.data.synthetic import generate
from vlaa.data.validation import Checked, Loss, Rejected, Validator, peek, text_or
from vlaa.errors import UserError
from vlaa.observability.data_build import DataBuildMetrics
from vlaa.observability.settings import MetricsSettings
from vlaa.records import IMAGES_DIR, RECORDS_FILE, Record, write_records

logger = logging.getLogger(__name__)

QUARANTINE_FILE = "quarantine.jsonl"
DROPS_FILE = "drops.jsonl"
VALIDATE_STEP = "validate"
WRITE_STEP = "write"


@dataclass(frozen=True)
class SourceImage:
    """A valid record's image in its source, and the SHA-256 of the bytes validated."""

    path: Path
    sha256: str


class DatasetBuildError(UserError, RuntimeError):
    """The build cannot produce a usable dataset; the message says why and what to look at."""


def build_dataset(
    config: BuildDatasetConfig,
    sft_dir: Path,
    rl_dir: Path,
    eval_dir: Path,
    card_dir: Path,
    teacher: Any = None,
    run_id: str = "local",
) -> DataCard:
    """Build the SFT, RL and eval splits and the data card; return the card.

    ``teacher`` (sync like ``OfflineTeacher`` or async like ``LLMTeacher``) defaults to the one
    ``config.teacher`` names. Raises ``DatasetBuildError`` when more than
    ``config.max_drop_share`` of the records are lost; the card, ``quarantine.jsonl`` and
    ``drops.jsonl`` are written to ``card_dir`` first.
    """
    _check_distinct_dirs(sft_dir, rl_dir, eval_dir)
    card = DataCard(
        source=config.source_label(), seed=config.seed, config=config.model_dump(mode="json")
    )
    card_dir.mkdir(parents=True, exist_ok=True)
    metrics = DataBuildMetrics(
        run_id, MetricsSettings.from_env(pushgateway_url=config.pushgateway_url)
    )
    try:
        with (
            use_limits(config.limits),
            tempfile.TemporaryDirectory(prefix="vlaa-build-") as scratch,
        ):
            readers = _open_readers(config, Path(scratch))
            valid = _ValidRecords(Path(scratch) / "valid.jsonl")
            with (card_dir / QUARANTINE_FILE).open("w", encoding="utf-8") as quarantine:
                _validate_all(readers, valid, card, metrics, quarantine, Validator(config.limits))
            _fail_if_too_lossy(card, config, card_dir)
            eval_indices = _eval_indices(valid.count, config)
            outputs = _SplitWriters(
                {"sft": sft_dir, "rl": rl_dir, "eval": eval_dir},
                max_image_bytes=config.limits.max_image_bytes,
            )
            with outputs, (card_dir / DROPS_FILE).open("w", encoding="utf-8") as drops:
                card.teacher = _distil_all(
                    config, teacher, valid, readers, eval_indices, outputs, card, metrics, drops
                )
    finally:
        metrics.flush()
    _check_accounting(card)
    card.write(card_dir)
    _fail_if_too_lossy(card, config, card_dir)
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


# ---------------------------------------------------------------- sources


def _open_readers(config: BuildDatasetConfig, scratch: Path) -> list[SourceReader]:
    readers: list[SourceReader] = []
    cache_dir = Path(config.source_cache_dir) if config.source_cache_dir else None
    for index, spec in enumerate(config.source_specs()):
        if spec.kind == SYNTHETIC:
            folder = scratch / f"synthetic-{index}"
            pairs = generate(config.synthetic_config(), folder / IMAGES_DIR)
            write_records(folder / RECORDS_FILE, (record for record, _ in pairs))
            spec = SourceSpec(kind="records", path=str(folder), options=spec.options)
        try:
            readers.append(open_source(spec, cache_dir))
        except SourceError as error:
            if not config.sources and spec.kind == "records":
                raise DatasetBuildError(
                    f"source {config.source!r} is neither 'synthetic' nor a folder holding "
                    f"{RECORDS_FILE}"
                ) from None
            raise DatasetBuildError(str(error)) from None
    prefixes = [reader.image_prefix for reader in readers]
    if len(set(prefixes)) != len(prefixes):
        raise DatasetBuildError(
            f"two sources store images under the same prefix ({prefixes}); give each records "
            "source a distinct options.image_prefix"
        )
    return readers


# ---------------------------------------------------------------- validation and quarantine


@dataclass
class _ValidRecords:
    """Valid records on scratch disk: one JSON line each, with the reader and source path."""

    path: Path
    count: int = 0
    _handle: IO[str] | None = None

    def append(self, reader_index: int, source_image: str, checked: Checked) -> None:
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8")
        entry = {
            "reader": reader_index,
            "image": source_image,
            "sha256": checked.image_sha256,
            "record": checked.record.model_dump(),
        }
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __iter__(self) -> Iterator[tuple[int, SourceImage, Record]]:
        self.close()
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            for line in handle:
                entry = json.loads(line)
                image = SourceImage(Path(entry["image"]), entry["sha256"])
                yield entry["reader"], image, Record.model_validate(entry["record"])


def _validate_all(
    readers: list[SourceReader],
    valid: _ValidRecords,
    card: DataCard,
    metrics: DataBuildMetrics,
    quarantine: IO[str],
    validator: Validator,
) -> None:
    """Validate every row of every reader; valid ones go to ``valid``, bad ones to quarantine."""
    with tqdm(desc="validate", unit="row", mininterval=1.0) as bar:
        for index, reader in enumerate(readers):
            for row in _rows_of(reader):
                bar.update(1)
                metrics.count_input()
                try:
                    if row.problem is not None:
                        raise Rejected(*row.problem)
                    checked = validator.check_row(
                        row.data, row.image_root, reader.image_prefix, row.location
                    )
                except Rejected as rejected:
                    # Parse the bad row once more, best effort, only to name it.
                    data = peek(row.data)
                    source = text_or(data.get("source"), reader.name) or reader.name
                    card.count_original(source)
                    loss = Loss(
                        rejected.reason,
                        rejected.detail,
                        VALIDATE_STEP,
                        text_or(data.get("id")),
                        row.location,
                        source,
                    )
                    logger.warning("quarantined %s: %s", loss.ref(), loss.detail)
                    card.count_quarantined(source, loss.reason)
                    metrics.count_dropped(VALIDATE_STEP, loss.reason)
                    quarantine.write(loss.to_json() + "\n")
                    continue
                card.count_original(checked.record.source)
                source_image = str(row.image_root / _without_prefix(checked.record.image, reader))
                valid.append(index, source_image, checked)
    valid.close()


def _rows_of(reader: SourceReader) -> Iterator[SourceRow]:
    """The reader's rows; a source that breaks mid-file (a truncated array) fails the build."""
    try:
        yield from reader.rows
    except SourceError as error:
        raise DatasetBuildError(f"source {reader.name!r} cannot be read on: {error}") from None


def _without_prefix(image: str, reader: SourceReader) -> str:
    return image[len(reader.image_prefix) + 1 :] if reader.image_prefix else image


# ---------------------------------------------------------------- eval hold-out and teacher


def _eval_indices(count: int, config: BuildDatasetConfig) -> set[int]:
    """Pick ``eval_size`` of the valid records (seeded) before any teacher step."""
    if config.eval_size >= count:
        raise DatasetBuildError(
            f"eval_size {config.eval_size} leaves nothing to train on: only {count} valid records"
        )
    return set(random.Random(f"vlaa-eval:{config.seed}").sample(range(count), config.eval_size))


def _as_eval(record: Record) -> Record:
    """Eval records keep question and answer; teacher fields stay empty."""
    return record.model_copy(
        update={"caption": "", "reasoning": "", "response": "", "has_aha": False, "split": "eval"}
    )


def _distil_all(
    config: BuildDatasetConfig,
    teacher: Any,
    valid: _ValidRecords,
    readers: list[SourceReader],
    eval_indices: set[int],
    outputs: _SplitWriters,
    card: DataCard,
    metrics: DataBuildMetrics,
    drops: IO[str],
) -> dict[str, Any]:
    """Write eval records as they come and run the teacher on the rest; return its labels."""

    def drop(loss: Loss) -> None:
        logger.info("dropped %s at %s: %s", loss.ref(), loss.step, loss.detail)
        card.count_dropped(loss.source, loss.reason, loss.step)
        metrics.count_dropped(loss.step, loss.reason)
        drops.write(loss.to_json() + "\n")

    def keep(record: Record, image: SourceImage) -> None:
        try:
            outputs.write(record, image)
        except ImageProblem as problem:  # the file changed since validation: not copied
            drop(Loss(problem.reason, problem.detail, WRITE_STEP, record.id, None, record.source))
            return
        split = record.split or "sft"
        card.count_kept(record.source, split, record.reward_type, record.has_aha)
        metrics.count_kept(split)

    def work_items() -> Iterator[WorkItem]:
        for index, (reader_index, image, record) in enumerate(valid):
            if index in eval_indices:
                keep(_as_eval(record), image)
                continue
            roles = readers[reader_index].roles
            yield WorkItem(record, image.path, frozenset(roles), image.sha256)

    def emit(item: WorkItem, result: Record | Loss) -> None:
        if isinstance(result, Loss):
            drop(result)
        else:
            keep(result, SourceImage(item.image_path, item.image_sha256))

    settings = DistilSettings(
        max_rewrite_word_delta=config.max_rewrite_word_delta,
        max_in_flight=config.max_in_flight,
    )
    progress = StepProgress(max(valid.count - len(eval_indices), 0))
    try:
        return asyncio.run(_run_distil(config, teacher, work_items(), settings, emit, progress))
    finally:
        progress.close()


async def _run_distil(
    config: BuildDatasetConfig,
    teacher: Any,
    items: Iterator[WorkItem],
    settings: DistilSettings,
    emit: Any,
    progress: StepProgress,
) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        if teacher is None:
            teacher = await _default_teacher(config, stack)
        chosen = as_async(teacher)
        await distil_stream(items, chosen, settings, emit, progress)
        labels = chosen.labels()
        if hasattr(chosen, "stats"):  # calls, cache hits, attempts, latency per step
            labels = {**labels, "stats": chosen.stats()}
        return labels


async def _default_teacher(config: BuildDatasetConfig, stack: contextlib.AsyncExitStack) -> Any:
    if config.teacher == "llm":
        from vlaa.data.llm_teacher.teacher import LLMTeacher

        return await stack.enter_async_context(LLMTeacher(config.llm_teacher_config()))
    return OfflineTeacher(
        aha_share=config.aha_share, error_rate=config.teacher_error_rate, seed=config.seed
    )


# ---------------------------------------------------------------- outputs and checks


@dataclass
class _SplitWriters:
    """``records.jsonl`` plus only the images its records use, per split (stale outputs go)."""

    directories: dict[str, Path]
    max_image_bytes: int = DEFAULT_LIMITS.max_image_bytes
    _handles: dict[str, IO[str]] = field(default_factory=dict)
    _copied: dict[str, set[str]] = field(default_factory=dict)

    def __enter__(self) -> _SplitWriters:
        for split, directory in self.directories.items():
            directory.mkdir(parents=True, exist_ok=True)
            if (directory / IMAGES_DIR).exists():
                shutil.rmtree(directory / IMAGES_DIR)
            self._handles[split] = (directory / RECORDS_FILE).open("w", encoding="utf-8")
            self._copied[split] = set()
        return self

    def write(self, record: Record, image: SourceImage) -> None:
        """Write ``record`` and, once per split, its image: the bytes validated, read again
        without following links and checked by hash (``ImageProblem`` when they changed)."""
        split = record.split or "sft"
        if record.image not in self._copied[split]:
            data = read_verified(image.path, image.sha256, self.max_image_bytes)
            target = self.directories[split] / IMAGES_DIR / record.image
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self._copied[split].add(record.image)
        self._handles[split].write(record.model_dump_json() + "\n")

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles.values():
            handle.close()


def _check_accounting(card: DataCard) -> None:
    """Every input row must be in a split, in quarantine or in the drops."""
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
