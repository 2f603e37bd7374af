"""DocVQA (Single-Page DocVQA, docvqa.org / RRC): questions about scanned document pages.

Layouts read::

    train_v1.0_withQT.json | train_v1.0.json     {"dataset_name", ..., "data": [ {...}, ... ]}
    documents/xnbl0037_1.png

    spdocvqa_qas/train_v1.0_withQT.json          (the RRC "Task 1" download)
    spdocvqa_images/xnbl0037_1.png

Confirmed (DocVQA annotation samples in published loaders): the annotation JSON holds
``{"data": [...]}`` whose items have ``questionId``, ``question``, ``question_types``,
``image`` (``"documents/xnbl0037_1.png"``), ``docId``, ``ucsf_document_id``,
``ucsf_document_page_no``, ``answers`` (a list of accepted answers) and ``data_split``;
the RRC download names the files ``spdocvqa_qas/*_v1.0_withQT.json`` and keeps the images
flat in ``spdocvqa_images/``.
Assumed: the first of ``answers`` is the reference answer (all are kept in meta); in the
``spdocvqa_images`` layout the ``documents/`` part of image paths is dropped so they name the
flat files. The test split has no answers: its rows are quarantined as ``missing_answer``.

Rows: reward type ``open``; ids ``docvqa-<questionId>``.

Options: ``split`` (default ``train``, picks ``<split>_v1.0_withQT.json`` /
``<split>_v1.0.json``), ``annotation``, ``image_root``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from vlaa.data.sources import _common as common
from vlaa.data.sources.base import SourceReader, SourceRow, SourceSpec

KIND = "docvqa"
FLAT_IMAGES = "spdocvqa_images"
DOCUMENTS_PREFIX = "documents/"


def open_docvqa(spec: SourceSpec, root: Path) -> SourceReader:
    common.check_options(spec, ("split",))
    split = str(spec.options.get("split", "train"))
    names = [f"{split}_v1.0_withQT.json", f"{split}_v1.0.json"]
    base, annotation = common.locate_annotation(
        root, spec, [*names, *(f"spdocvqa_qas/{name}" for name in names)]
    )
    flat = common.IMAGE_ROOT_OPTION not in spec.options and (base / FLAT_IMAGES).is_dir()
    default_root = base / FLAT_IMAGES if flat else annotation.parent
    maker = common.RowMaker(
        KIND, common.image_root(base, spec, default_root), common.label(annotation, base)
    )
    rows = common.map_records(annotation, maker, partial(_row, maker=maker, flat=flat), "data.item")
    return common.reader(KIND, spec, rows)


def _row(number: int, record: dict[str, Any], maker: common.RowMaker, flat: bool) -> SourceRow:
    question_id = common.text(record, "questionId")
    record_id = question_id or f"item{number}"
    image = common.text(record, "image")
    if image and flat:
        image = image.removeprefix(DOCUMENTS_PREFIX)
    question = common.text(record, "question")
    known = {"image": image, "question": question}
    missing = [name for name, value in (("image", image), ("question", question)) if not value]
    if missing:
        return maker.bad(
            number, "missing_field", f"missing {', '.join(missing)}", record_id=record_id, **known
        )
    raw_answers = record.get("answers")
    if not isinstance(raw_answers, list):
        raw_answers = [raw_answers] if isinstance(raw_answers, str) else []
    answers = [str(a).strip() for a in raw_answers if isinstance(a, str | int | float)]
    answers = [answer for answer in answers if answer]
    if not answers:
        return maker.bad(
            number, "missing_answer", "no answers (test split?)", record_id=record_id, **known
        )
    meta: dict[str, Any] = {"answers": answers}
    for field in ("questionId", "docId", "ucsf_document_id", "ucsf_document_page_no"):
        if record.get(field) is not None:
            meta[field] = record[field]
    if isinstance(record.get("question_types"), list):
        meta["question_types"] = record["question_types"]
    assert image is not None and question is not None
    return maker.row(
        number,
        record_id=record_id,
        image=image,
        question=question,
        answer=answers[0],
        reward_type="open",
        meta=meta,
    )
