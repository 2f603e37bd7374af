"""LogicVista (Yijia-Xiao/LogicVista on GitHub): 448 visual logical-reasoning questions.

Published layout (confirmed from the repository's ``data/README.md`` and ``data/dataset.json``)::

    data/dataset.json   {"v1_0": {"imagename": "v1_0.png", "question": ..., "answer": "C",
                                   "reasoning": ..., "skill": [...], "capability": [...],
                                   "imagesource": ..., "sourcelink": ...}, ...}
    data/images/v1_0.png

``root`` may be the repository (``data/`` inside) or the ``data`` folder itself. Options are
inside the question text or the image, so items carry no option texts. Answers are option
labels, a few of them several (``"A, C"``) or digits (``"3"`` for "Select from 1-5"); all
are scored as multiple choice on the exact label set.

The release has a record with an empty question and answer (``v1_382``; its image is there).
Its authors' harness keeps it and scores it as a miss (VLMEvalKit's ``LogicVista_auxeval``
compares the judge's letters with an empty answer), so accuracy is over all 448 records; the
item is kept here too, scored as a miss and counted as ``empty_items``.
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
    require,
)

NAME = "logicvista"


def load(
    root: Path,
    context: LoadContext,
) -> list[EvalItem]:
    """Items of LogicVista's full test set, in file order."""
    path = find_one(root, ["data/dataset.json", "dataset.json"], "dataset.json", NAME)
    source = Source(NAME, path)
    image_dir = path.parent / "images"
    items: list[EvalItem] = []
    for index, key, record in context.records(path, NAME, items):
        record_id = key if key is not None else str(record.get("id", f"#{index}"))
        empty: list[str] = []
        question = content_text(record, "question", source, record_id, empty)
        answer = content_text(record, "answer", source, record_id, empty)
        image = require(record, "imagename", source, record_id)
        items.append(
            EvalItem(
                id=record_id,
                benchmark=NAME,
                images=context.image(image, source, record_id, "imagename", image_dir, path.parent),
                question=question,
                prompt=context.prompt(vlmevalkit.logicvista(question), question, "mcq"),
                answer=answer,
                answer_kind="mcq",
                empty_fields=empty,
                meta={
                    "skill": record.get("skill") or [],
                    "capability": record.get("capability") or [],
                    "multiple_answers": "," in answer,
                },
            )
        )
    return items
