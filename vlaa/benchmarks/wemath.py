"""We-Math testmini (We-Math/We-Math on Hugging Face and GitHub): 1,740 multiple-choice questions.

Published layouts (confirmed from the repositories' file listings and ``testmini.json``)::

    testmini.json + testmini.zip unpacked      (Hugging Face)
    data/testmini.json + data/2steps/image/1-1.png ... (GitHub)
    data/testmini-*.parquet                    (Hugging Face Parquet)

``testmini.json`` is an array of records: ``ID`` (``"2steps_1"``, the problem group),
``split``, ``knowledge concept``, ``question``, ``option`` (``"A. 300, 400;B. 400, 300;..."``),
``answer`` (a letter), ``image_path`` (``"2steps/image/1-1.png"``), ``key`` (the role in the
group: ``2steps_1``, ``2steps_2``, ``2steps_multi``; ``3steps_1`` .. ``3steps_multi``),
``question number``, ``knowledge concept description``. Assumed: ``testmini.zip`` unpacks
the ``2steps/`` and ``3steps/`` folders beside the JSON or into ``testmini/``, and the
Parquet file has the same columns with ``image_path`` holding the embedded image.

The prompt is the question and its options one per line (VLMEvalKit's multiple-choice
style). ``meta`` carries ``group``, ``role`` (``"1"``.. or ``"multi"``) and ``steps`` for the
four-dimensional metrics in ``vlaa.benchmarks.scoring.wemath_metrics``. Items are ordered
group by group.

The metrics are those of We-Math's ``evaluation/four_dimensional_metrics.py`` (VLMEvalKit's
``vlmeval/dataset/utils/wemath.py`` copies them). Deliberate differences
(``REFERENCE_DIFFERENCES``; ``tests/benchmarks/test_benchmark_wemath_reference.py``):

- ``group-count``: rates and scores divide by the number of complete groups scored; the
  reference divides by 525, testmini's count, so its numbers are wrong on any subset;
- ``incomplete-group``: a group missing a member (a ``limit`` cut it) is in no category; the
  reference's left join still counts it as IK or strict RM when a present sub-problem is
  wrong (``False | NaN`` is true in its masks), and drops it when sub-problem 1 is missing.
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
    format_options,
    read_records,
    require,
    require_text,
)

NAME = "wemath"

REFERENCE_DIFFERENCES: dict[str, str] = {
    "group-count": "rates and scores are over the complete groups scored, not a fixed 525",
    "incomplete-group": "a group missing a member is left out of every category",
}
_KEY = re.compile(r"^([23])steps_(\d+|multi)$")
# "A. 300, 400;B. 400, 300; E. No correct answer": a letter and a period start each option.
_OPTION = re.compile(r"(?:^|;)\s*([A-H])\s*[.．]\s*(.*?)\s*(?=;\s*[A-H]\s*[.．]|$)", re.DOTALL)


def parse_options(text: str) -> dict[str, str]:
    """We-Math's option string as ``{"A": "300, 400", ...}``."""
    return {m.group(1): m.group(2).rstrip(";").strip() for m in _OPTION.finditer(text.strip())}


def load(
    root: Path,
    context: LoadContext,
) -> list[EvalItem]:
    """Items of testmini, ordered by problem group (sub-problems, then the composite one)."""
    path = find_one(
        root,
        ["testmini.json", "data/testmini.json", "data/testmini-*.parquet"],
        "We-Math testmini file",
        NAME,
    )
    source = Source(NAME, path)
    bases = [path.parent, path.parent / "testmini", path.parent / "data"]
    rows = []
    for index, (_, record) in enumerate(read_records(path, NAME)):
        group = require_text(record, "ID", source, f"#{index}")
        key = require_text(record, "key", source, group)
        match = _KEY.match(key)
        if not match:
            raise source.error(group, f"field 'key' is {key!r}, not <2|3>steps_<n|multi>")
        steps, role = int(match.group(1)), match.group(2)
        if role != "multi" and not 1 <= int(role) <= steps:
            raise source.error(group, f"field 'key' is {key!r}: no sub-problem {role} here")
        rows.append((group, steps, role, record))

    def group_order(row: tuple) -> tuple:
        group, steps, role, _ = row
        number = group.rsplit("_", 1)[-1]
        return (steps, int(number) if number.isdigit() else 0, group, role == "multi", role)

    rows.sort(key=group_order)
    if context.limit is not None:
        rows = rows[: context.limit]

    items: list[EvalItem] = []
    seen: set[str] = set()
    for group, steps, role, record in rows:
        item_id = f"{group}:{role}"
        if item_id in seen:
            raise source.error(group, f"role {role!r} appears twice in group {group!r}")
        seen.add(item_id)
        empty: list[str] = []
        question = content_text(record, "question", source, group, empty)
        answer = content_text(record, "answer", source, group, empty).upper()
        options = parse_options(require_text(record, "option", source, group))
        if not options:
            raise source.error(group, "field 'option' lists no options ('A. ...;B. ...')")
        if answer and answer not in options:
            raise source.error(group, f"answer {answer!r} is not one of options {list(options)}")
        text = f"{question}\n{format_options(options)}"
        image = require(record, "image_path", source, group)
        items.append(
            EvalItem(
                id=item_id,
                benchmark=NAME,
                images=context.image(image, source, group, "image_path", *bases),
                question=text,
                prompt=context.prompt(vlmevalkit.wemath(question, options), text, "mcq"),
                answer=answer,
                answer_kind="mcq",
                options=options,
                empty_fields=empty,
                meta={
                    "group": group,
                    "role": role,
                    "steps": steps,
                    "key": f"{steps}steps_{role}",
                    "knowledge_concept": record.get("knowledge concept") or "",
                    "question_number": record.get("question number"),
                },
            )
        )
    return items
