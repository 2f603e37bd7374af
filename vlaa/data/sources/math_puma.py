"""Math-PUMA stage-2 Synthesis subset (Math-PUMA/Math-PUMA_Data_Stage2, ``Synthesis/``).

Layout read (the repository's ``Synthesis`` folder with ``images.tar.gz`` unpacked)::

    train.json      [ {"image_url", "instruction", "output",
                       "image_url_2", "instruction_2", "output_2"}, ... ]
    <image folders as named by image_url / image_url_2>

Confirmed (Math-PUMA README and its ``train/qwen2/dataset.py`` ``VTADataset``): stage-2
records pair two forms of one problem: ``image_url`` / ``instruction`` / ``output`` (the
text-rich form) and ``image_url_2`` / ``instruction_2`` / ``output_2`` (the vision-rich form
the model is aligned on); the files are ``Synthesis/train.json`` (JSON array) and
``Synthesis/images.tar.gz`` (dataset file listing). Confirmed (released VLAA-Thinking
"synthesis" records): the question is the vision-rich instruction ("What is the function's
equation?"), the text version is kept as extra context, and solutions end with
``"†Answer: y = -5 * sin(-5 * x)."``.
Assumed: image paths are relative to the ``Synthesis`` folder (set ``image_root`` otherwise;
absolute paths are quarantined as ``invalid_image_path``); a record without ``output_2``
falls back to ``output`` for the answer (both forms have the same solution). A ``.jsonl``
annotation file is read line by line.

Rows: reward type ``math``; the answer is the text after the last ``†Answer:`` (else
``Answer:``, else the last ``\\boxed{}``), trailing full stop removed, plain-text notation
rewritten as LaTeX (``y = -5 * sin(-5 * x)`` -> ``y = -5 \\cdot \\sin(-5 \\cdot x)``; the text
as written kept in ``meta["answer_original"]``). The extra context
(the paper's step 2, "Math PUMA's text version of the problem") is ``instruction`` in
``meta["context"]``. Ids are ``math_puma-<index>``.

Options: ``annotation`` (default ``train.json``, then ``train.jsonl``), ``image_root``.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from vlaa.data import rules
from vlaa.data.sources import _common as common
from vlaa.data.sources.base import CONTEXT_KEY, SourceReader, SourceRow, SourceSpec

KIND = "math_puma"

# Where the final answer starts: Math-PUMA's "†Answer:", else a line starting "Answer:".
_MARKED_ANSWER_RE = re.compile(r"†\s*Answer\s*[:：]")
_PLAIN_ANSWER_RE = re.compile(r"(?:^|\n)[^\S\n]*(?:Final\s+)?Answer\s*[:：]", re.IGNORECASE)
_BOXED = r"\boxed{"


def open_math_puma(spec: SourceSpec, root: Path) -> SourceReader:
    common.check_options(spec)
    base, annotation = common.locate_annotation(root, spec, ["train.json", "train.jsonl"])
    maker = common.RowMaker(
        KIND, common.image_root(base, spec, base), common.label(annotation, base)
    )
    return common.reader(
        KIND, spec, common.map_records(annotation, maker, partial(_row, maker=maker))
    )


def _row(number: int, record: dict[str, Any], maker: common.RowMaker) -> SourceRow:
    record_id = str(number)
    image = common.text(record, "image_url_2")
    question = common.text(record, "instruction_2")
    question = common.strip_image_token(question) if question else None
    context = common.text(record, "instruction")
    known = {"image": image, "question": question}
    missing = [f for f, v in (("image_url_2", image), ("instruction_2", question)) if not v]
    if missing:
        return maker.bad(
            number, "missing_field", f"missing {', '.join(missing)}", record_id=record_id, **known
        )
    solution = common.text(record, "output_2") or common.text(record, "output") or ""
    answer = final_answer(solution)
    if answer is None:
        return maker.bad(
            number,
            "missing_answer",
            "solution has no '†Answer:', 'Answer:' or \\boxed{} answer",
            record_id=record_id,
            **known,
        )
    meta: dict[str, Any] = {"index": number, "image_url_2": image}
    answer = rules.normalise_math_ground_truth(answer, meta)  # "sin(x)" -> "\\sin(x)"
    text_image = common.text(record, "image_url")
    if text_image:
        meta["image_url"] = text_image
    if context:
        meta[CONTEXT_KEY] = common.strip_image_token(context)
    assert image is not None and question is not None
    return maker.row(
        number,
        record_id=record_id,
        image=image.removeprefix("./"),
        question=question,
        answer=answer,
        reward_type="math",
        meta=meta,
    )


def final_answer(solution: str) -> str | None:
    """The final answer of a Math-PUMA solution, or ``None`` when it states none."""
    for pattern in (_MARKED_ANSWER_RE, _PLAIN_ANSWER_RE):
        matches = list(pattern.finditer(solution))
        if matches:
            answer = _first_line(solution[matches[-1].end() :])
            if answer:
                return answer
    boxed = _last_boxed(solution)
    return boxed.strip() if boxed and boxed.strip() else None


def _first_line(tail: str) -> str:
    """The answer written after the marker: its first line, trailing full stop removed."""
    lines = tail.strip().splitlines()
    return lines[0].strip().removesuffix(".").strip() if lines else ""


def _last_boxed(solution: str) -> str | None:
    """The content of the last ``\\boxed{...}``, braces balanced."""
    start = solution.rfind(_BOXED)
    if start < 0:
        return None
    depth, begin = 1, start + len(_BOXED)
    for index in range(begin, len(solution)):
        if solution[index] == "{":
            depth += 1
        elif solution[index] == "}":
            depth -= 1
            if depth == 0:
                return solution[begin:index]
    return None
