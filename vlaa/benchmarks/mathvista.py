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
``normalize_extracted_answer`` and ``safe_equal`` of MathVista's ``evaluation/calculate_score.py``
(:func:`mathvista_correct`), with the answer text standing for its GPT extraction:

- multiple choice: the option the answer names (``vlaa.benchmarks.options``);
- ``integer``: ``str(int(float(x)))`` equals the answer, so ``12.7`` reads as ``12`` (truncated);
- ``float``: ``str(round(float(x), precision))`` equals the answer;
- ``list``: the answer text equals the ground truth's.

Deliberate differences (``REFERENCE_DIFFERENCES``; rows of
``tests/benchmarks/test_benchmark_reference_agreement.py``):

- ``no-nearest-choice``: an answer that names no option is wrong; MathVista maps any text to
  the choice with the least edit distance, so even ``I don't know`` picks an option;
- ``number-in-text``: a number inside text or LaTeX (``12 cm``, ``\\frac{1}{2}``, ``1,000``)
  is read, the job MathVista's GPT extraction step does before ``float()``;
- ``float-value``: a float equal in value to the ground truth after rounding is right even
  when its text differs (``1.50`` vs ``1.5``, ``-0.0``), where MathVista compares strings;
- ``list-spacing``: list answers are compared without white space (``[1,2]`` = ``[1, 2]``).

MathVista's ``text`` answers come with choices only; a free-form ``text`` item (none in
testmini; MathVista's script fails on one) is scored as free-form.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vlaa.benchmarks import vlmevalkit
from vlaa.benchmarks.items import (
    EvalItem,
    LoadContext,
    Source,
    content_text,
    find_one,
    option_labels,
    require,
    require_text,
)
from vlaa.benchmarks.numbers import parse_numeric

NAME = "mathvista"

REFERENCE_DIFFERENCES: dict[str, str] = {
    "no-nearest-choice": "an answer naming no option is wrong, not the nearest choice",
    "number-in-text": "a number inside text or LaTeX is read (MathVista's GPT step does this)",
    "float-value": "a rounded float equal in value to the ground truth is right",
    "list-spacing": "list answers are compared without white space",
}


def load(
    root: Path,
    context: LoadContext,
    *,
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
    for index, key, record in context.records(path, NAME, items):
        items.append(_item(record, key or f"#{index}", path, source, context))
    return items


def _item(
    record: dict[str, Any],
    key: str,
    path: Path,
    source: Source,
    context: LoadContext,
) -> EvalItem:
    pid = require_text(record, "pid", source, key)
    question_type = require_text(record, "question_type", source, pid)
    answer_type = require_text(record, "answer_type", source, pid)
    empty: list[str] = []
    answer = content_text(record, "answer", source, pid, empty)

    options: dict[str, str] = {}
    precision: int | None = None
    if question_type == "multi_choice":
        choices = require(record, "choices", source, pid)
        if not isinstance(choices, list) or not choices:
            raise source.error(pid, "field 'choices' must be a non-empty list for multi_choice")
        options = dict(zip(option_labels(len(choices)), map(str, choices), strict=True))
        matching = [label for label, text in options.items() if text == answer]
        if not matching and answer:
            raise source.error(pid, f"answer {answer!r} is not one of the choices {choices!r}")
        kind, gold = "mcq", matching[0] if matching else ""
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

    question = record.get("query") or _query(record, options, source, pid, empty)
    # Parquet rows embed the image; the JSON layout names a file relative to the dataset root.
    image_field = "decoded_image" if record.get("decoded_image") else "image"
    image = require(record, image_field, source, pid)
    return EvalItem(
        id=pid,
        benchmark=NAME,
        images=context.image(image, source, pid, image_field, path.parent, path.parent.parent),
        question=str(question),
        prompt=context.prompt(vlmevalkit.mathvista(str(question)), str(question), kind),
        answer=gold,
        answer_kind=kind,
        options=options,
        precision=precision,
        empty_fields=empty,
        meta={
            "question_type": question_type,
            "answer_type": answer_type,
            "unit": record.get("unit") or "",
            "answer_text": answer,
            "metadata": record.get("metadata") or {},
        },
    )


def _query(
    record: dict[str, Any], options: dict[str, str], source: Source, pid: str, empty: list[str]
) -> str:
    """MathVista's prompt shape, for annotation files without ``query``."""
    question = content_text(record, "question", source, pid, empty)
    if not options:
        return question
    lines = "\n".join(f"({label}) {text}" for label, text in options.items())
    return f"{question}\nChoices:\n{lines}"


# ----------------------------------------------------------------------------- scoring


def _stated_number(text: str) -> float | None:
    """``float(text)`` as MathVista reads an extraction, else the number the text states."""
    try:
        value = float(text)
    except ValueError:
        return parse_numeric(text)  # number-in-text
    return value if math.isfinite(value) else None  # int()/round() of nan/inf never match


def mathvista_correct(item: EvalItem, prediction: str) -> bool | None:
    """MathVista's verdict for integer, float and list items; ``None`` for the others."""
    answer_type = item.meta.get("answer_type")
    answer = item.answer.strip()
    if item.answer_kind == "numeric" and answer_type == "integer":
        value = _stated_number(prediction)
        return value is not None and str(int(value)) == answer
    if item.answer_kind == "numeric" and answer_type == "float" and item.precision is not None:
        value = _stated_number(prediction)
        if value is None:
            return False
        rounded = round(value, item.precision)
        if str(rounded) == answer:
            return True
        gold = _stated_number(answer)
        return gold is not None and rounded == gold  # float-value
    if answer_type == "list":
        return "".join(prediction.split()) == "".join(answer.split())  # list-spacing
    return None
