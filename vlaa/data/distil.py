"""Steps 2-6 of the data pipeline over a stream of records: caption, reason, rewrite (15-word
filter), verify (Yes/No), then the aha split (the paper, "The six-step data pipeline").

Records are processed concurrently (``max_in_flight`` at a time; the teacher's endpoints bound
the calls themselves) and handed to ``emit`` in input order, so the output of a build does not
depend on which teacher call happened to finish first. Memory is bounded by ``max_in_flight``
plus a reorder buffer of ``max_ahead`` finished records, not by the size of the dataset.

A teacher is either async (``vlaa.data.llm_teacher.LLMTeacher``) or a plain synchronous object
with the same four methods (``OfflineTeacher``); ``as_async`` adapts the latter.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import mimetypes
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from vlaa.data import rules
from vlaa.data.image_guard import ImageProblem, read_verified
from vlaa.data.limits import current_limits
from vlaa.data.offline_teacher import TeacherError
from vlaa.data.validation import Loss
from vlaa.records import Record

TEACHER_STEPS: tuple[str, ...] = ("caption", "reason", "rewrite", "verify")


class TeacherReply(Protocol):
    """What every teacher step returns: the text. The LLM teacher's ``ChatResult`` carries call
    statistics besides (attempts, cache hit, latency), which the data card aggregates."""

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class LocalReply:
    """The reply of a teacher that runs in this process (the offline one): just the text."""

    text: str


class AsyncTeacher(Protocol):
    """The four teacher steps, async. ``labels`` names models and prompt versions."""

    async def caption(self, record: Record, image: bytes, mime: str) -> TeacherReply: ...

    async def reason(self, record: Record, caption: str) -> TeacherReply: ...

    async def rewrite(self, text: str) -> TeacherReply: ...

    async def verify(self, answer: str, ground_truth: str, question: str) -> TeacherReply: ...

    def labels(self) -> dict[str, Any]: ...


class _SyncTeacherAdapter:
    """Runs a synchronous teacher (the offline one: pure CPU, microseconds) inline."""

    def __init__(self, teacher: Any) -> None:
        self._teacher = teacher

    async def caption(self, record: Record, image: bytes, mime: str) -> TeacherReply:
        return LocalReply(self._teacher.caption(record))

    async def reason(self, record: Record, caption: str) -> TeacherReply:
        return LocalReply(self._teacher.reason(record, caption))

    async def rewrite(self, text: str) -> TeacherReply:
        return LocalReply(self._teacher.rewrite(text))

    async def verify(self, answer: str, ground_truth: str, question: str) -> TeacherReply:
        return LocalReply(self._teacher.verify(answer, ground_truth))

    def labels(self) -> dict[str, Any]:
        return self._teacher.labels()


def as_async(teacher: Any) -> AsyncTeacher:
    """``teacher`` itself when its steps are coroutines, else an adapter running them inline."""
    if inspect.iscoroutinefunction(getattr(teacher, "caption", None)):
        return teacher
    return _SyncTeacherAdapter(teacher)


@dataclass(frozen=True)
class WorkItem:
    """One record to distil: where its image is and which splits its source may feed.

    ``image_sha256`` is the hash of the bytes validated; when set, the image is read back only
    if it still has them (``vlaa.data.image_guard.read_verified``).
    """

    record: Record
    image_path: Path
    roles: frozenset[str]
    image_sha256: str = ""


@dataclass(frozen=True)
class DistilSettings:
    max_rewrite_word_delta: int = rules.MAX_REWRITE_WORD_DELTA
    max_in_flight: int = 256
    max_ahead: int = 4096


class StepProgress:
    """One tqdm bar per teacher step (rate and ETA each), plus drop counts on the last."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.bars = {
            step: tqdm(
                total=total,
                desc=f"{step:<8}",
                unit="rec",
                # Stacked bars need a terminal; in KFP logs each bar prints its own lines.
                position=index if sys.stderr.isatty() else None,
                disable=not enabled,
                mininterval=1.0,
            )
            for index, step in enumerate(TEACHER_STEPS)
        }
        self.dropped = 0

    def done(self, step: str) -> None:
        self.bars[step].update(1)

    def left_after(self, step: str | None) -> None:
        """A record left before the later steps (dropped or already distilled)."""
        later = TEACHER_STEPS if step is None else TEACHER_STEPS[TEACHER_STEPS.index(step) + 1 :]
        for name in later:
            self.bars[name].update(1)

    def count_drop(self) -> None:
        self.dropped += 1
        self.bars["verify"].set_postfix(dropped=self.dropped, refresh=False)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class _Dropped(Exception):
    def __init__(self, step: str, reason: str, detail: str, attempts: int | None = None) -> None:
        super().__init__(detail)
        self.step, self.reason, self.detail, self.attempts = step, reason, detail, attempts


async def distil_stream(
    items: Iterable[WorkItem],
    teacher: AsyncTeacher,
    settings: DistilSettings,
    emit: Callable[[WorkItem, Record | Loss], None],
    progress: StepProgress,
) -> None:
    """Distil every item; call ``emit`` with the item and its kept record or loss, in input
    order."""
    labels = copy.deepcopy(teacher.labels())
    running: dict[asyncio.Task[Record | Loss], tuple[int, WorkItem]] = {}
    finished: dict[int, tuple[WorkItem, Record | Loss]] = {}
    next_emit = 0
    iterator = enumerate(items)
    exhausted = False

    def launch() -> None:
        nonlocal exhausted
        while (
            not exhausted
            and len(running) < settings.max_in_flight
            and len(finished) + len(running) < settings.max_ahead
        ):
            try:
                index, item = next(iterator)
            except StopIteration:
                exhausted = True
                return
            task = asyncio.create_task(_distil_one(item, teacher, settings, labels, progress))
            running[task] = (index, item)

    launch()
    while running:
        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            index, item = running.pop(task)
            finished[index] = (item, task.result())
        while next_emit in finished:
            emit(*finished.pop(next_emit))
            next_emit += 1
        launch()


async def _distil_one(
    item: WorkItem,
    teacher: AsyncTeacher,
    settings: DistilSettings,
    labels: dict[str, Any],
    progress: StepProgress,
) -> Record | Loss:
    record = item.record
    if record.response:  # imported already distilled (a released file): only the split
        progress.left_after(None)
        return _split(record, record.reasoning, item.roles, keep_given_split=True)
    try:
        caption, reasoning, answer = await _run_teacher(item, teacher, settings, progress)
    except _Dropped as dropped:
        progress.left_after(dropped.step)
        progress.count_drop()
        return Loss(
            reason=dropped.reason,
            detail=dropped.detail,
            step=dropped.step,
            record_id=record.id,
            source=record.source,
            attempts=dropped.attempts,
        )
    meta = {**record.meta, **copy.deepcopy(labels)}
    if record.caption:
        meta.setdefault("teacher_models", {})["caption"] = "provided"
    distilled = record.model_copy(
        update={
            "caption": caption,
            "reasoning": reasoning,
            "response": rules.format_response(reasoning, answer),
            "meta": meta,
        }
    )
    return _split(distilled, reasoning, item.roles, keep_given_split=False)


def _image_bytes(item: WorkItem) -> bytes:
    """The validated image bytes, never a file swapped in since (dropped as ``image_changed``)."""
    if not item.image_sha256:
        return item.image_path.read_bytes()
    try:
        return read_verified(item.image_path, item.image_sha256, current_limits().max_image_bytes)
    except ImageProblem as problem:
        raise _Dropped("caption", problem.reason, problem.detail) from None


async def _run_teacher(
    item: WorkItem,
    teacher: AsyncTeacher,
    settings: DistilSettings,
    progress: StepProgress,
) -> tuple[str, str, str]:
    """Caption, reason, rewrite, verify; return (caption, reasoning, answer) or raise
    ``_Dropped``."""
    record = item.record
    caption = record.caption
    if not caption:
        image = _image_bytes(item)
        mime = mimetypes.guess_type(item.image_path.name)[0] or "image/png"
        caption = await _call("caption", teacher.caption(record, image, mime))
    progress.done("caption")

    output = await _call("reason", teacher.reason(record, caption))
    progress.done("reason")
    if rules.split_reasoning_output(output)[1] is None:
        raise _Dropped("reason", "no_answer", "the teacher's reasoning gives no answer")

    rewritten = await _call("rewrite", teacher.rewrite(output))
    progress.done("rewrite")
    if not rules.rewrite_within_limit(output, rewritten, settings.max_rewrite_word_delta):
        delta = rules.word_count(rewritten) - rules.word_count(output)
        raise _Dropped(
            "rewrite",
            "rewrite_word_delta",
            f"the rewrite changed the word count by {delta:+d} "
            f"(limit {settings.max_rewrite_word_delta})",
        )
    reasoning, answer = rules.split_reasoning_output(rewritten)
    if answer is None:
        raise _Dropped("rewrite", "no_answer", "the rewritten reasoning lost its answer")

    truth = record.answer_text()
    verdict_text = await _call("verify", teacher.verify(answer, truth, record.question))
    progress.done("verify")
    verdict = rules.parse_verification(verdict_text)
    if verdict is None:
        raise _Dropped(
            "verify", "verify_unparsable", f"the judge said {verdict_text[:80]!r}, not Yes or No"
        )
    if not verdict:
        raise _Dropped(
            "verify", "verify_no", f"the teacher answered {answer!r}, the ground truth is {truth!r}"
        )
    return caption, reasoning, answer


async def _call(step: str, call: Any) -> str:
    """Await one teacher call; turn its failure into a drop of this record at ``step``.

    Every teacher returns a ``TeacherReply``; an LLM teacher's ``ChatResult`` also carries
    attempts, cache hit and latency, which the data card aggregates per step. Per-call timings
    stay out of the records so that a resumed build writes byte-identical output.
    """
    try:
        result = await call
    except TeacherError as error:
        reason = getattr(error, "reason", None) or "teacher_error"
        raise _Dropped(step, reason, str(error), getattr(error, "attempts", None)) from None
    return result.text


def _split(record: Record, reasoning: str, roles: frozenset[str], keep_given_split: bool) -> Record:
    """Step 6: aha keywords send a record to RL, the rest to SFT; a source's roles win."""
    aha = rules.has_aha(reasoning)
    split = record.split if keep_given_split and record.split in ("sft", "rl") else None
    if split is None:
        split = "rl" if aha else "sft"
    if split not in roles:
        split = "rl" if "rl" in roles else "sft"
    return record.model_copy(update={"has_aha": aha, "split": split})
