"""MathVerse testmini (AI4Math/MathVerse on Hugging Face), "Vision Only" problems by default.

Published layouts (file names confirmed from the dataset repository's file listing)::

    testmini.json + images_version_*/image_<n>.png    (images.zip unpacked beside the JSON)
    testmini.parquet                                   rows with an embedded ``image``

Fields (confirmed from the published ``testmini.json``): ``sample_index``, ``problem_index``,
``problem_version`` (``Text Dominant`` | ``Text Lite`` | ``Vision Intensive`` |
``Vision Dominant`` | ``Vision Only``), ``question``, ``image``, ``answer``,
``question_type`` (``multi-choice`` | ``free-form``), ``metadata``, ``query_wo``,
``query_cot``, ``question_for_eval``. Whether ``images.zip`` unpacks into ``images/`` or
beside the JSON is not confirmed, so both folders are searched.

The prompt is ``query_cot`` (MathVerse's reasoning prompt; for Vision Only it says the
question is in the image), else ``query_wo``, else ``question``. Multiple-choice answers are
letters; option texts are parsed from the question text when it lists them
(``Choices:\\nA:50°``), never for Vision Only, where they are in the image. MathVerse's own
scoring uses a GPT judge; here free-form answers are compared with Math-Verify.

Reference: MathVerse has no rule-based scorer besides exact match: ``match_answer(...,
quick_match=True)`` of ``evaluation/score_answer_s2.py`` (``answer == extraction``) and
VLMEvalKit's ``post_check_score`` (``vlmeval/dataset/utils/mathverse.py``, the same after
``strip()``), both applied to the GPT extraction; everything else is the GPT judge. With the
answer standing for the extraction, the project agrees wherever that rule says "right"; it
also accepts, deliberately (``REFERENCE_DIFFERENCES``; rows of
``tests/benchmarks/test_benchmark_reference_tables.py``):

- ``judge-extraction``: an option named inside text (``C:65°``, ``The answer is C``, the
  option's text), the GPT extraction's job;
- ``judge-equivalence``: the same value written otherwise (``c``, ``0.5`` for
  ``\\frac{1}{2}``, ``22.30``, other spacing), which the GPT judge's prompt counts as consistent.
"""

from __future__ import annotations

import re
from pathlib import Path

from vlaa.benchmarks import vlmevalkit
from vlaa.benchmarks.items import (
    EvalItem,
    LoadContext,
    Source,
    content_text,
    find_one,
    require,
    require_text,
)

NAME = "mathverse"

REFERENCE_DIFFERENCES: dict[str, str] = {
    "judge-extraction": "an option named inside text counts (MathVerse's GPT extraction)",
    "judge-equivalence": "the same value written otherwise counts (MathVerse's GPT judge)",
}
VISION_ONLY = "Vision Only"
_CHOICE_LINE = re.compile(r"^\s*([A-H])\s*[:.]\s*(.+?)\s*$")


def load(
    root: Path,
    context: LoadContext,
    *,
    versions: tuple[str, ...] = (VISION_ONLY,),
) -> list[EvalItem]:
    """Items of testmini whose ``problem_version`` is in ``versions``, in file order."""
    path = find_one(
        root,
        ["testmini.json", "testmini.parquet", "testmini/*.parquet"],
        "MathVerse testmini file",
        NAME,
    )
    source = Source(NAME, path)
    items: list[EvalItem] = []
    for index, _, record in context.records(path, NAME, items):
        record_id = require_text(record, "sample_index", source, f"#{index}")
        version = require_text(record, "problem_version", source, record_id)
        if version not in versions:
            continue
        empty: list[str] = []
        answer = content_text(record, "answer", source, record_id, empty)
        question_type = require_text(record, "question_type", source, record_id)
        if question_type not in ("multi-choice", "free-form"):
            raise source.error(record_id, f"unknown question_type {question_type!r}")
        text = next(
            (
                str(record[f]).strip()
                for f in ("query_cot", "query_wo", "question")
                if isinstance(record.get(f), str) and record[f].strip()
            ),
            None,
        )
        if text is None and not any(f in record for f in ("query_cot", "query_wo", "question")):
            raise source.error(record_id, "missing field 'query_cot' (and no query_wo/question)")
        if text is None:  # present but empty: kept, scored as a miss
            text = ""
            empty.append("question")
        kind = "mcq" if question_type == "multi-choice" else "free_form"
        options = _options(str(record.get("question_for_eval") or record.get("question") or ""))
        if kind == "mcq" and answer:
            answer = _answer_label(answer, options, source, record_id)
        image = require(record, "image", source, record_id)
        items.append(
            EvalItem(
                id=record_id,
                benchmark=NAME,
                images=context.image(
                    image, source, record_id, "image", path.parent, path.parent / "images"
                ),
                question=text,
                prompt=context.prompt(
                    vlmevalkit.mathverse(_vlmevalkit_question(record, text)), text, kind
                ),
                answer=answer,
                answer_kind=kind,
                options=options if kind == "mcq" else {},
                empty_fields=empty,
                meta={
                    "problem_index": str(record.get("problem_index", "")),
                    "problem_version": version,
                    "metadata": record.get("metadata") or {},
                },
            )
        )
    return items


def _vlmevalkit_question(record: dict, fallback: str) -> str:
    """VLMEvalKit's question: ``query_wo``, else ``question``, else the training text."""
    for field in ("query_wo", "question"):
        value = record.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return fallback


def _answer_label(answer: str, options: dict[str, str], source: Source, record_id: str) -> str:
    """The option letter a multiple-choice answer is (the letter itself, or an option's text)."""
    if len(answer) == 1 and answer.isalpha():
        return answer.upper()
    named = [label for label, text in options.items() if text == answer]
    if len(named) != 1:
        raise source.error(record_id, f"multi-choice answer {answer!r} is not an option letter")
    return named[0]


def _options(question: str) -> dict[str, str]:
    """Option texts listed after a ``Choices:`` / ``Choice:`` line, if any."""
    _, found, tail = question.partition("Choice")
    if not found:
        return {}
    options: dict[str, str] = {}
    for line in tail.splitlines()[1:]:
        match = _CHOICE_LINE.match(line)
        if match:
            options[match.group(1)] = match.group(2)
    return options
