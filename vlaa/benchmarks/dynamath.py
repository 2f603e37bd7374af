"""DynaMath (DynaMath/DynaMath_Sample on Hugging Face): 501 seed questions x 10 variants.

Published layout (file names and fields confirmed from the dataset card and file listing)::

    data/sample1-00000-of-00001.parquet ... data/sample10-00000-of-00010.parquet

one file per split ``sample_variant1`` .. ``sample_variant10``, each with the 501 seed
questions' concrete variant. Fields: ``id``, ``question``, ``image`` (a name),
``decoded_image`` (the embedded image), ``ground_truth``, ``answer_type``
(``multiple choice`` | ``float`` | other, free-form text), ``subject``, ``knowledge_level``.
Also read: the Parquet export's names ``data/sample_variant<k>-*.parquet`` and
``sample_variant<k>/*.parquet``. Assumed (not confirmed): ``id`` names the seed question and
is the same in every variant file; worst-case accuracy groups variants by it.

Scoring follows VLMEvalKit's ``DynaMath_auxeval`` (``vlmeval/dataset/dynamath.py``; DynaMath's
own ``evaluation/*_json_eval.py`` has the same float and letter rules): the option letter for
multiple choice, absolute tolerance 0.001 for floats; free-form text via Math-Verify or equal
text. Deliberate differences from its rule path (no GPT; ``REFERENCE_DIFFERENCES``; rows of
``tests/benchmarks/test_benchmark_reference_tables.py``):

- ``number-in-text``: a number with text around it or a thousands comma (``x = 5``,
  ``The answer is 5``, ``1,000``, ``50%``) is read; VLMEvalKit ``float()``s the first word;
- ``latex-number``: LaTeX numbers and a bare π (``\\frac{1}{2}``, ``2\\pi``, ``π``) are read;
- ``judge-extraction``: ``The answer is B`` names option B; VLMEvalKit needs exactly one of
  the letters A-E in the whole answer, else asks GPT;
- ``first-three-characters``: no fallback to "the gold letter occurs in the first three
  characters", which makes ``Both A and B`` right for B and ``Cannot determine`` for A and C;
- ``substring-text``: a text answer must equal the ground truth, not be a substring of it
  (VLMEvalKit accepts ``3`` for ``(3, 4)`` and the empty answer for anything; DynaMath's own
  script has it the other way round: the ground truth inside the answer);
- ``text-equivalence``: text answers equal up to spacing or LaTeX (``(3,4)`` = ``(3, 4)``).

Items are ordered seed by seed, variants together; a ``limit`` takes the first items in that
order, and worst-case accuracy is over the variants present.
"""

from __future__ import annotations

from pathlib import Path

from vlaa.benchmarks import vlmevalkit
from vlaa.benchmarks.items import (
    BenchmarkDataError,
    EvalItem,
    LoadContext,
    Source,
    content_text,
    find_all,
    read_records,
    require,
    require_text,
)

NAME = "dynamath"
VARIANTS = 10
FLOAT_TOLERANCE = 0.001  # DynaMath's evaluation: |prediction - answer| <= 0.001

REFERENCE_DIFFERENCES: dict[str, str] = {
    "number-in-text": "a number with text around it or a thousands comma is read",
    "latex-number": "LaTeX numbers and a bare pi are read",
    "judge-extraction": "'The answer is B' names B (VLMEvalKit asks GPT)",
    "first-three-characters": "no 'gold letter in the first three characters' fallback",
    "substring-text": "a text answer must equal the ground truth, not be a substring",
    "text-equivalence": "text answers equal up to spacing or LaTeX are right",
}


def variant_files(root: Path, variant: int) -> list[Path]:
    """The Parquet shard(s) of one ``sample_variant<k>`` split."""
    return find_all(
        root,
        [
            f"data/sample{variant}-*.parquet",
            f"data/sample_variant{variant}-*.parquet",
            f"sample_variant{variant}/*.parquet",
        ],
    )


def load(
    root: Path,
    context: LoadContext,
) -> list[EvalItem]:
    """Items of all 10 variants, ordered by seed question, then variant."""
    rows: list[tuple[str, int, dict, Source]] = []
    for variant in range(1, VARIANTS + 1):
        files = variant_files(root, variant)
        if not files:
            raise BenchmarkDataError(
                f"{NAME}: no file for split sample_variant{variant} under {root} "
                f"(looked for data/sample{variant}-*.parquet)"
            )
        seen: set[str] = set()
        for path in files:
            source = Source(NAME, path)
            for index, (_, record) in enumerate(read_records(path, NAME)):
                seed = require_text(record, "id", source, f"#{index}")
                if seed in seen:
                    raise source.error(seed, f"id repeats within sample_variant{variant}")
                seen.add(seed)
                rows.append((seed, variant, record, source))

    order = {seed: position for position, seed in enumerate(dict.fromkeys(r[0] for r in rows))}
    rows.sort(key=lambda row: (order[row[0]], row[1]))
    if context.limit is not None:
        rows = rows[: context.limit]
    return [_item(seed, variant, record, source, context) for seed, variant, record, source in rows]


def _item(
    seed: str,
    variant: int,
    record: dict,
    source: Source,
    context: LoadContext,
) -> EvalItem:
    item_id = f"{seed}-variant{variant}"
    empty: list[str] = []
    question = content_text(record, "question", source, seed, empty)
    answer = content_text(record, "ground_truth", source, seed, empty, name="answer")
    answer_type = require_text(record, "answer_type", source, seed)
    tolerance = None
    if answer_type == "multiple choice":
        kind, answer = "mcq", answer.upper()
    elif answer_type == "float":
        kind, tolerance = "numeric", FLOAT_TOLERANCE
    else:
        kind = "free_form"
    image_field = "decoded_image" if record.get("decoded_image") else "image"
    image = require(record, image_field, source, seed)
    return EvalItem(
        id=item_id,
        benchmark=NAME,
        images=context.image(
            image, source, seed, image_field, source.path.parent, source.path.parent.parent
        ),
        question=question,
        prompt=context.prompt(vlmevalkit.dynamath(question, answer_type), question, kind),
        answer=answer,
        answer_kind=kind,
        tolerance=tolerance,
        empty_fields=empty,
        meta={
            "seed_id": seed,
            "variant": variant,
            "answer_type": answer_type,
            "subject": record.get("subject") or "",
            "knowledge_level": record.get("knowledge_level") or "",
        },
    )
