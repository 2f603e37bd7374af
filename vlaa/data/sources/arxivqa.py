"""ArxivQA (MMInstruction/ArxivQA): multiple-choice questions about figures of arXiv papers.

Layout read (the Hugging Face repository with ``images.tgz`` unpacked)::

    arxivqa.jsonl     {"id", "image": "images/1704.01566_1.jpg", "question", "options",
                       "label", "rationale"} per line
    images/1704.01566_1.jpg

Confirmed (dataset file listing; published loaders and the released VLAA-Thinking ArxivQA
records): the file is ``arxivqa.jsonl`` with ``id``, ``image`` (relative to the repository,
``images/...``), ``question``, ``options`` (a list of option strings), ``label`` and
``rationale``; the options carry their letter (``"A) ..."``) and the ground truth is a
letter.
Assumed: ``label`` may also be written ``"C) text"`` / ``"(C)"`` or be the option's text;
options without a letter are lettered A, B, ... in order.

Rows: reward type ``mcq``; the question is ArxivQA's question followed by its options, one per
line, as ``A. text``; the answer is the option letter. Ids are ``arxivqa-<id>``. A record
without options, or whose label is not one of them, is quarantined (``missing_options``,
``answer_not_option``).

Options: ``annotation`` (default ``arxivqa.jsonl``), ``image_root``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from vlaa.data.rules import normalise_mcq_answer
from vlaa.data.sources import _common as common
from vlaa.data.sources.base import SourceReader, SourceRow, SourceSpec

KIND = "arxivqa"


def open_arxivqa(spec: SourceSpec, root: Path) -> SourceReader:
    common.check_options(spec)
    base, annotation = common.locate_annotation(root, spec, ["arxivqa.jsonl"])
    maker = common.RowMaker(
        KIND, common.image_root(base, spec, base), common.label(annotation, base)
    )
    return common.reader(
        KIND, spec, common.map_records(annotation, maker, partial(_row, maker=maker))
    )


def _row(number: int, record: dict[str, Any], maker: common.RowMaker) -> SourceRow:
    record_id = common.text(record, "id") or str(number)
    image = common.text(record, "image")
    question = common.text(record, "question")
    known = {"image": image, "question": question}
    missing = [name for name, value in (("image", image), ("question", question)) if not value]
    if missing:
        return maker.bad(
            number, "missing_field", f"missing {', '.join(missing)}", record_id=record_id, **known
        )
    options = lettered_options(record.get("options"))
    if len(options) < 2:
        return maker.bad(
            number,
            "missing_options",
            f"options {record.get('options')!r} are not a list of at least two choices",
            record_id=record_id,
            **known,
        )
    answer = answer_letter(common.text(record, "label"), options)
    if answer is None:
        return maker.bad(
            number,
            "answer_not_option",
            f"label {record.get('label')!r} is not one of the options {''.join(options)}",
            record_id=record_id,
            **known,
        )
    assert image is not None and question is not None
    rendered = question + "\n" + "\n".join(f"{letter}. {body}" for letter, body in options.items())
    return maker.row(
        number,
        record_id=record_id,
        image=image,
        question=rendered,
        answer=answer,
        reward_type="mcq",
        meta={"arxivqa_id": record_id, "options": list(options.values())},
    )


def lettered_options(raw: Any) -> dict[str, str]:
    """``{"A": text, ...}`` from ArxivQA's option strings; ``{}`` when they are unusable.

    The letters written in the options are kept when every option has a distinct one (the
    label refers to them); otherwise the options are lettered A, B, ... by position.
    """
    if not isinstance(raw, list) or not all(isinstance(o, str) and o.strip() for o in raw):
        return {}
    if len(raw) > 26:
        return {}
    parsed = [common.strip_option_label(option) for option in raw]
    written = [letter for letter, _ in parsed]
    if None not in written and len(set(written)) == len(written):
        return {str(letter): body for letter, body in parsed}
    letters = common.option_letters(len(parsed))
    return {letter: body for letter, (_, body) in zip(letters, parsed, strict=True)}


def answer_letter(label_text: str | None, options: dict[str, str]) -> str | None:
    """The option letter ``label_text`` names (``"C"``, ``"C) text"``, ``"(c)"``, or the text)."""
    if not label_text:
        return None
    letter = normalise_mcq_answer(label_text)
    if letter in options:
        return letter
    _, body = common.strip_option_label(label_text)
    named = [key for key, value in options.items() if value.lower() == body.lower()]
    return named[0] if len(named) == 1 else None
