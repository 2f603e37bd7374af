"""MathVista testmini (AI4Math/MathVista on Hugging Face): 1,000 questions.

Published layouts (file names confirmed from the dataset repository's file listing)::

    data/testmini-00000-of-00001-725687bf7a18d64b.parquet   rows with an embedded image
    annot_testmini.json + images/<pid>.jpg                   annotations keyed by pid, with
                                                            images.zip unpacked beside them

Fields (the dataset card): ``pid``, ``question``, ``image`` (``"images/1.jpg"``),
``decoded_image`` (Parquet only), ``choices`` (null unless multiple choice), ``unit``,
``precision``, ``answer``, ``question_type`` (``multi_choice`` | ``free_form``),
``answer_type`` (``integer`` | ``float`` | ``text`` | ``list``), ``metadata``, ``query``.
That ``annot_testmini.json`` is an object keyed by pid is assumed (arrays are read too).

The prompt is the dataset's ``query`` (hint + question + choices, what MathVista's own
scripts send), built from ``question`` and ``choices`` when absent. Scoring follows
MathVista's ``calculate_score.py``: a multiple-choice answer is the choice's text, compared
by option (letter or text; MathVista's fallback to the most similar choice is not copied, so
an answer naming no option is wrong); floats rounded to ``precision`` decimals; integers
rounded to 0 decimals (MathVista truncates with ``int()``); lists and text as free-form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlaa.benchmarks import vlmevalkit
from vlaa.benchmarks.items import (
    EvalItem,
    ImageResolver,
    Source,
    choose_prompt,
    find_one,
    option_labels,
    read_records,
    require,
    require_text,
)

NAME = "mathvista"


def load(
    root: Path,
    *,
    limit: int | None,
    images: ImageResolver,
    task_instruction: bool = True,
    prompt_style: str = "training",
    split: str = "testmini",
) -> list[EvalItem]:
    """Items of MathVista's ``split`` (``testmini`` by default, the paper's), in file order."""
    path = find_one(
        root,
        [f"data/{split}-*.parquet", f"{split}-*.parquet", f"annot_{split}.json", f"{split}.json"],
        f"MathVista {split} file",
        NAME,
    )
    source = Source(NAME, path)
    items: list[EvalItem] = []
    for index, (key, record) in enumerate(read_records(path, NAME)):
        if limit is not None and len(items) >= limit:
            break
        items.append(
            _item(record, key or f"#{index}", path, source, images, task_instruction, prompt_style)
        )
    return items


def _item(
    record: dict[str, Any],
    key: str,
    path: Path,
    source: Source,
    images: ImageResolver,
    task_instruction: bool,
    prompt_style: str,
) -> EvalItem:
    pid = require_text(record, "pid", source, key)
    question_type = require_text(record, "question_type", source, pid)
    answer_type = require_text(record, "answer_type", source, pid)
    answer = require_text(record, "answer", source, pid)

    options: dict[str, str] = {}
    precision: int | None = None
    if question_type == "multi_choice":
        choices = require(record, "choices", source, pid)
        if not isinstance(choices, list) or not choices:
            raise source.error(pid, "field 'choices' must be a non-empty list for multi_choice")
        options = dict(zip(option_labels(len(choices)), map(str, choices), strict=True))
        matching = [label for label, text in options.items() if text == answer]
        if not matching:
            raise source.error(pid, f"answer {answer!r} is not one of the choices {choices!r}")
        kind, gold = "mcq", matching[0]
    elif question_type == "free_form" and answer_type in ("integer", "float"):
        kind, gold = "numeric", answer
        if answer_type == "integer":
            precision = 0
        else:
            raw = require(record, "precision", source, pid)
            try:
                precision = int(float(raw))
            except (TypeError, ValueError):
                raise source.error(pid, f"field 'precision' is not a number: {raw!r}") from None
    elif question_type == "free_form" and answer_type in ("text", "list"):
        kind, gold = "free_form", answer
    else:
        raise source.error(
            pid, f"unknown question_type/answer_type {question_type!r}/{answer_type!r}"
        )

    question = record.get("query") or _query(record, options, source, pid)
    # Parquet rows embed the image; the JSON layout names a file relative to the dataset root.
    image_field = "decoded_image" if record.get("decoded_image") else "image"
    image = require(record, image_field, source, pid)
    return EvalItem(
        id=pid,
        benchmark=NAME,
        images=[
            images.resolve(
                image,
                bases=[path.parent, path.parent.parent],
                source=source,
                record_id=pid,
                field=image_field,
            )
        ],
        question=str(question),
        prompt=choose_prompt(
            prompt_style, vlmevalkit.mathvista(str(question)), str(question), kind, task_instruction
        ),
        answer=gold,
        answer_kind=kind,
        options=options,
        precision=precision,
        meta={
            "question_type": question_type,
            "answer_type": answer_type,
            "unit": record.get("unit") or "",
            "answer_text": answer,
            "metadata": record.get("metadata") or {},
        },
    )


def _query(record: dict[str, Any], options: dict[str, str], source: Source, pid: str) -> str:
    """MathVista's prompt shape, for annotation files without ``query``."""
    question = require_text(record, "question", source, pid)
    if not options:
        return question
    lines = "\n".join(f"({label}) {text}" for label, text in options.items())
    return f"{question}\nChoices:\n{lines}"
