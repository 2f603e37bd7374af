"""VizWiz VQA (vizwiz.org): questions blind people asked about photos they took.

Layout read (``Annotations.zip`` and ``train.zip`` unpacked side by side)::

    Annotations/train.json     [ {"image": "VizWiz_train_00000000.jpg", "question",
                                  "answers": [{"answer", "answer_confidence"}, ...],
                                  "answer_type", "answerable"}, ... ]
    train/VizWiz_train_00000000.jpg

Confirmed (VizWiz VQA annotation samples in published loaders and dataset trees): one JSON
array per split with ``image`` (a bare file name), ``question``, ten ``answers`` with
``answer`` and ``answer_confidence``, ``answer_type`` (``other``, ``yes/no``, ``number``,
``unanswerable``) and ``answerable`` (0 / 1); images in one folder per split
(``train/VizWiz_train_*.jpg``).
Assumed: the annotation folder may be named ``Annotations`` or ``annotations``; the human
non-answers ``unanswerable`` / ``unsuitable`` / ``unsuitable image`` are not answers.

Rows: reward type ``open``; the answer is the most common human answer (ties: the first
given). Questions marked unanswerable (``answerable == 0`` or ``answer_type ==
"unanswerable"``), or whose answers are all non-answers, are quarantined as ``unanswerable``.
Ids ``vizwiz-<image stem>`` (VizWiz has one question per image).

Options: ``split`` (default ``train``), ``annotation``, ``image_dir`` (image folder relative
to the source folder, default ``<split>``), ``image_root``.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from vlaa.data.sources import _common as common
from vlaa.data.sources.base import SourceReader, SourceRow, SourceSpec

KIND = "vizwiz"
NON_ANSWERS = frozenset({"unanswerable", "unsuitable", "unsuitable image"})


def open_vizwiz(spec: SourceSpec, root: Path) -> SourceReader:
    common.check_options(spec, ("split", "image_dir"))
    split = str(spec.options.get("split", "train"))
    base, annotation = common.locate_annotation(
        root, spec, [f"Annotations/{split}.json", f"annotations/{split}.json", f"{split}.json"]
    )
    image_dir = str(spec.options.get("image_dir", split)).strip("/")
    maker = common.RowMaker(
        KIND, common.image_root(base, spec, base), common.label(annotation, base)
    )
    rows = common.map_records(annotation, maker, partial(_row, maker=maker, image_dir=image_dir))
    return common.reader(KIND, spec, rows)


def _row(number: int, record: dict[str, Any], maker: common.RowMaker, image_dir: str) -> SourceRow:
    filename = common.text(record, "image")
    question = common.text(record, "question")
    record_id = PurePosixPath(filename).stem if filename else str(number)
    image = f"{image_dir}/{filename}" if image_dir and filename else filename
    known = {"image": image, "question": question}
    missing = [name for name, value in (("image", filename), ("question", question)) if not value]
    if missing:
        return maker.bad(
            number, "missing_field", f"missing {', '.join(missing)}", record_id=record_id, **known
        )
    if record.get("answerable") == 0 or record.get("answer_type") == "unanswerable":
        return maker.bad(
            number,
            "unanswerable",
            "annotators marked the question unanswerable",
            record_id=record_id,
            **known,
        )
    answers = human_answers(record.get("answers"))
    if answers is None:
        return maker.bad(
            number, "missing_answer", "no answers (test split?)", record_id=record_id, **known
        )
    if not answers:
        return maker.bad(
            number,
            "unanswerable",
            "every human answer is 'unanswerable' or 'unsuitable'",
            record_id=record_id,
            **known,
        )
    assert image is not None and question is not None
    return maker.row(
        number,
        record_id=record_id,
        image=image,
        question=question,
        answer=most_common(answers),
        reward_type="open",
        meta={
            "image_filename": filename,
            "answers": answers,
            "answer_type": record.get("answer_type"),
        },
    )


def human_answers(raw: Any) -> list[str] | None:
    """The human answers that are answers; ``None`` when the record has no answer list."""
    if not isinstance(raw, list) or not raw:
        return None
    answers = []
    for entry in raw:
        value = entry.get("answer") if isinstance(entry, dict) else entry
        if isinstance(value, str) and value.strip():
            answers.append(value.strip())
    return [answer for answer in answers if answer.lower() not in NON_ANSWERS]


def most_common(answers: list[str]) -> str:
    """The answer given most often (case-insensitive); ties go to the one given first."""
    counts = Counter(answer.lower() for answer in answers)
    best = max(counts.values())
    return next(answer for answer in answers if counts[answer.lower()] == best)
