"""LLaVA-CoT-100k (Xkev/LLaVA-CoT-100k): its COCO and VisualGenome grounding samples.

Layout read (the repository, ``image.zip.part-*`` joined and unpacked)::

    train.jsonl            {"id", "image": "coco/train2017/000000033471.jpg",
                            "conversations": [{"from": "human", ...}, {"from": "gpt", ...}]}
    coco/train2017/000000033471.jpg
    vg/VG_100K/2345.jpg    vg/VG_100K_2/2404787.jpg

Confirmed (dataset file listing; published LLaVA-CoT loaders): ``train.jsonl`` holds
LLaVA-style records with ``image`` and ``conversations``; answers are structured as
``<SUMMARY>…</SUMMARY><CAPTION>…</CAPTION><REASONING>…</REASONING><CONCLUSION>…</CONCLUSION>``.
Confirmed (VLAA-Thinking README): COCO and VisualGenome samples are used "as provided by
LLaVA-CoT", with images under ``coco/train2017`` and ``vg/VG_100K{,_2}``.
Assumed: the grounding samples are those whose question asks for a "bounding box" (LLaVA's
"Please provide the bounding box coordinate of the region this sentence describes: ...");
their conclusion ends with ``[x1, y1, x2, y2]`` in normalised [0, 1] coordinates (LLaVA-1.5's
convention), taken as given; the images may also be unpacked into ``image/``, ``images/`` or
``image_files/`` (the first holding ``coco/`` or ``vg/`` is used).

Selection, not loss: samples of the other image subset and samples that do not ask for a
bounding box belong to no box source and are passed over. A box sample whose conclusion has
no parseable box, or a box outside [0, 1] or without area, is quarantined (``invalid_box``).

Rows: reward type ``iou``; the answer is the box as 4 floats; ids
``llava_cot_coco-<id>-<line>`` / ``llava_cot_vg-<id>-<line>``.

Options: ``annotation`` (default ``train.jsonl``), ``image_root``.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from vlaa.boxes import last_box
from vlaa.data.sources import _common as common
from vlaa.data.sources.base import SourceReader, SourceRow, SourceSpec

SUBSETS: dict[str, str] = {"llava_cot_coco": "coco", "llava_cot_vg": "vg"}
IMAGE_FOLDERS: tuple[str, ...] = ("", "image", "images", "image_files")
_BOX_QUESTION_RE = re.compile(r"bounding\s+box", re.IGNORECASE)
_CONCLUSION_RE = re.compile(r"<CONCLUSION>(.*?)(?:</CONCLUSION>|$)", re.DOTALL | re.IGNORECASE)


def open_llava_cot_coco(spec: SourceSpec, root: Path) -> SourceReader:
    return _open("llava_cot_coco", spec, root)


def open_llava_cot_vg(spec: SourceSpec, root: Path) -> SourceReader:
    return _open("llava_cot_vg", spec, root)


def _open(kind: str, spec: SourceSpec, root: Path) -> SourceReader:
    common.check_options(spec)
    base, annotation = common.locate_annotation(root, spec, ["train.jsonl"])
    subset = SUBSETS[kind]
    default_root = next((base / f for f in IMAGE_FOLDERS if (base / f / subset).is_dir()), base)
    maker = common.RowMaker(
        kind, common.image_root(base, spec, default_root), common.label(annotation, base)
    )
    rows = common.map_records(annotation, maker, partial(_row, maker=maker, subset=subset))
    return common.reader(kind, spec, rows)


def _row(
    number: int, record: dict[str, Any], maker: common.RowMaker, subset: str
) -> SourceRow | None:
    image = common.text(record, "image")
    if image is None or PurePosixPath(image).parts[:1] != (subset,):
        return None  # another subset (or no image): not this source's sample
    human, assistant = common.first_exchange(record.get("conversations"))
    question = common.strip_image_token(human) if human else None
    if not question or not _BOX_QUESTION_RE.search(question):
        return None  # not a grounding sample
    original_id = common.text(record, "id")
    record_id = f"{original_id or PurePosixPath(image).stem}-{number}"
    known = {"image": image, "question": question}
    box = last_box(conclusion(assistant)) if assistant else None
    if box is None:
        return maker.bad(
            number,
            "invalid_box",
            "the conclusion holds no [x1, y1, x2, y2] box",
            record_id=record_id,
            **known,
        )
    problem = common.box_problem(box)
    if problem is not None:
        return maker.bad(number, "invalid_box", problem, record_id=record_id, **known)
    return maker.row(
        number,
        record_id=record_id,
        image=image,
        question=question,
        answer=box,
        reward_type="iou",
        meta={"llava_cot_id": original_id, "line": number},
    )


def conclusion(answer: str) -> str:
    """The ``<CONCLUSION>`` part of a LLaVA-CoT answer, or the whole answer without tags."""
    matches = _CONCLUSION_RE.findall(answer)
    return matches[-1] if matches else answer
