"""GeoQA170K as released by G-LLaVA (Luckyjhg/Geo170K): geometry multiple-choice, RL only.

Layout read (the Hugging Face repository with ``images.zip`` unpacked)::

    qa_tuning.json            [ {"image": "geoqa_plus/10756.png", "conversations": [...]}, ... ]
    images/geoqa_plus/10756.png

Confirmed (dataset card features; G-LLaVA README's ``playground/data`` tree; published
samples): ``qa_tuning.json`` is a JSON array of ``{"image", "conversations"}`` with no id
field; images unpack to ``images/{geo3k,geoqa_plus,test}/``; the human turn is ``"<image>\\n
First perform reasoning, then finally select the question from the choices in the following
format: Answer: xxx.\\nQuestion: ...\\nChoices:\\nA: 32°\\nB: ..."`` and the assistant turn ends
with ``"Answer:C"``.
Assumed: every sample is multiple choice with ``A:``-style choice lines (samples without
choices are quarantined as ``missing_options``).

Rows: reward type ``mcq``; the question is the problem and its choices, without the
``<image>`` token, G-LLaVA's instruction or the ``Question:`` prefix (the trainer appends its
own instruction, as the released VLAA-Thinking GeoQA records show); the answer is the option
letter. Ids are ``geoqa170k-<image path>-<index>`` (``geoqa170k-geoqa_plus-10756-63590``) as
in the VLAA-Thinking release. Roles: RL only (the paper: its captions hallucinate).

Options: ``annotation`` (default ``qa_tuning.json``), ``image_root`` (default ``images``).
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from vlaa.data.sources import _common as common
from vlaa.data.sources.base import SourceReader, SourceRow, SourceSpec

KIND = "geoqa170k"
RL_ONLY: frozenset[str] = frozenset({"rl"})

_INSTRUCTION_RE = re.compile(
    r"^\s*First perform reasoning, then finally select the question from the choices in the "
    r"following format: Answer: xxx\.?\s*",
    re.IGNORECASE,
)
_QUESTION_PREFIX_RE = re.compile(r"^\s*Question\s*:\s*", re.IGNORECASE)
_CHOICE_LINE_RE = re.compile(r"^\s*([A-H])\s*[:.)：]", re.MULTILINE)
_ANSWER_RE = re.compile(r"Answer\s*[:：]\s*\(?\s*([A-Za-z])\b")


def open_geoqa170k(spec: SourceSpec, root: Path) -> SourceReader:
    common.check_options(spec)
    base, annotation = common.locate_annotation(root, spec, ["qa_tuning.json"])
    maker = common.RowMaker(
        KIND, common.image_root(base, spec, base / "images"), common.label(annotation, base)
    )
    rows = common.map_records(annotation, maker, partial(_row, maker=maker))
    return common.reader(KIND, spec, rows, roles=RL_ONLY)


def _row(number: int, record: dict[str, Any], maker: common.RowMaker) -> SourceRow:
    image = common.text(record, "image")
    human, assistant = common.first_exchange(record.get("conversations"))
    question = clean_question(human) if human else None
    record_id = _record_id(image, number)
    known = {"image": image, "question": question}
    if image is None or not question:
        missing = [name for name, value in (("image", image), ("question", question)) if not value]
        return maker.bad(
            number, "missing_field", f"missing {', '.join(missing)}", record_id=record_id, **known
        )
    letters = _CHOICE_LINE_RE.findall(question)
    if len(letters) < 2:
        return maker.bad(
            number, "missing_options", "question lists no choices", record_id=record_id, **known
        )
    answers = _ANSWER_RE.findall(assistant or "")
    if not answers:
        return maker.bad(
            number, "missing_answer", "no 'Answer:' in the reply", record_id=record_id, **known
        )
    letter = answers[-1].upper()
    if letter not in letters:
        return maker.bad(
            number,
            "answer_not_option",
            f"answer {letter!r} is not one of the choices {''.join(letters)}",
            record_id=record_id,
            **known,
        )
    return maker.row(
        number,
        record_id=record_id,
        image=image,
        question=question,
        answer=letter,
        reward_type="mcq",
        meta={"index": number, "image": image},
    )


def clean_question(human_turn: str) -> str:
    """The problem and its choices, without ``<image>``, G-LLaVA's instruction or ``Question:``."""
    question = _INSTRUCTION_RE.sub("", common.strip_image_token(human_turn))
    return _QUESTION_PREFIX_RE.sub("", question).strip()


def _record_id(image: str | None, number: int) -> str:
    if not image:
        return str(number)
    return f"{PurePosixPath(image).with_suffix('').as_posix().replace('/', '-')}-{number}"
