"""MATH-Vision (MathLLMs/MathVision on Hugging Face): 3,040 competition problems (full test).

Published layouts::

    data/test-*.parquet (and data/testmini-*.parquet)   rows with an embedded image
    data/test.jsonl + data/images/<id>.jpg                the GitHub repository's layout

Fields (confirmed from the dataset card): ``id``, ``question``, ``options`` (a list, empty for
free-form problems), ``image`` (``"images/1.jpg"``), ``decoded_image`` (Parquet only),
``answer`` (an option letter, or the value), ``solution``, ``level``, ``subject``. The
JSON-lines file name and the image folder of the GitHub layout are assumed.

A question with options is multiple choice on the letter (options rendered ``A. text`` under
the question; many are just the letters because the choices are drawn in the image); any
other is free-form, scored with Math-Verify, or as numbers within ``MATHVISION_TOLERANCE``.

Reference: VLMEvalKit's ``post_check`` / ``is_equal`` (``vlmeval/dataset/utils/mathv.py``),
its rule path before the GPT extraction: ``can_infer`` for choices; else equal lower-cased
text, ``eval`` of both within 1e-6, or ``latex2sympy`` of both within 1e-6. Deliberate
differences (``REFERENCE_DIFFERENCES``; rows of
``tests/benchmarks/test_benchmark_reference_tables.py``):

- ``answer-in-text``: a value inside text or with a unit (``The answer is 4``, ``4 cm``,
  ``30°``, ``x=4``) is read; VLMEvalKit leaves that to its GPT extraction;
- ``sympy-eval``: a value equal through a root or π (``\\sqrt{12}`` = ``2\\sqrt{3}``) is right;
  ``is_equal`` runs Python's ``eval`` on sympy's printout, which knows no ``sqrt`` or ``pi``;
- ``tuple-equivalence``: tuples compare as values (``(1, 2)`` = ``(1,2)``), not as text;
- ``eval-local-names``: the answer ``a`` (or ``A``) is no number; ``is_equal``'s ``eval``
  reads it as its own local variable ``a``, the parsed ground truth, so it always matches.

MATH-V's own ``evaluation/evaluate.py`` rounds both values to 2 decimals (``0.33`` =
``\\frac{1}{3}``); the project follows VLMEvalKit, which the paper used.
"""

from __future__ import annotations

from pathlib import Path

from vlaa.benchmarks import vlmevalkit
from vlaa.benchmarks.items import (
    EvalItem,
    LoadContext,
    Source,
    content_text,
    find_one,
    format_options,
    option_labels,
    require,
    require_text,
)

NAME = "mathvision"
MATHVISION_TOLERANCE = 1e-6  # VLMEvalKit's is_equal: abs(a - b) < 1e-6

REFERENCE_DIFFERENCES: dict[str, str] = {
    "answer-in-text": "a value inside text or with a unit is read (VLMEvalKit's GPT step)",
    "sympy-eval": "values equal through a root or pi are equal",
    "tuple-equivalence": "tuples compare as values, not text",
    "eval-local-names": "the answer 'a' is not a number (VLMEvalKit's eval reads a local)",
}


def load(
    root: Path,
    context: LoadContext,
    *,
    split: str = "test",
) -> list[EvalItem]:
    """Items of MATH-Vision's ``split`` (``test`` by default, the paper's), in file order."""
    path = find_one(
        root,
        [f"data/{split}-*.parquet", f"{split}-*.parquet", f"data/{split}.jsonl", f"{split}.jsonl"],
        f"MathVision {split} file",
        NAME,
    )
    source = Source(NAME, path)
    items: list[EvalItem] = []
    for index, _, record in context.records(path, NAME, items):
        record_id = require_text(record, "id", source, f"#{index}")
        empty: list[str] = []
        question = content_text(record, "question", source, record_id, empty)
        answer = content_text(record, "answer", source, record_id, empty)
        raw_options = require(record, "options", source, record_id)
        if not isinstance(raw_options, list):
            raise source.error(record_id, "field 'options' must be a list")
        options = dict(zip(option_labels(len(raw_options)), map(str, raw_options), strict=True))
        if options:
            if answer and answer.upper() not in options:
                raise source.error(record_id, f"answer {answer!r} is not an option letter")
            kind, answer = "mcq", answer.upper()
            text = f"{question}\n{format_options(options)}"
        else:
            kind, text = "free_form", question
        image_field = "decoded_image" if record.get("decoded_image") else "image"
        image = require(record, image_field, source, record_id)
        items.append(
            EvalItem(
                id=record_id,
                benchmark=NAME,
                images=context.image(
                    image, source, record_id, image_field, path.parent, path.parent.parent
                ),
                question=text,
                prompt=context.prompt(vlmevalkit.mathvision(question, options), text, kind),
                answer=answer,
                answer_kind=kind,
                options=options,
                empty_fields=empty,
                meta={
                    "level": record.get("level"),
                    "subject": record.get("subject") or "",
                },
            )
        )
    return items
