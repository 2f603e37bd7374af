"""CLEVR-Math (dali-does/clevr-math): "Remove all red cubes. How many objects are left?".

Layout read (a local copy of the Hugging Face repository's zips, unpacked)::

    clevr-math-train.json                    {"questions": [ {...}, ... ]}
    CLEVR_v1.0/images/train/CLEVR_train_000000.png
    CLEVR_v1.0/scenes/CLEVR_train_scenes.json {"info": ..., "scenes": [ {...}, ... ]}

Confirmed (the dataset's loading script ``clevr-math.py``): the question files are
``clevr-math-{train,val,test}.json`` holding ``{"questions": [...]}`` with ``split``,
``image_filename``, ``question``, ``answer`` (an integer) and ``template_filename``; images are
read from ``CLEVR_v1.0/images/<split>/<image_filename>`` of the original CLEVR zip.
Confirmed (CLEVR v1.0 README): scene files ``CLEVR_v1.0/scenes/CLEVR_<split>_scenes.json`` hold
``{"scenes": [...]}`` whose scenes have ``image_filename`` and ``objects`` with ``size``,
``color``, ``material``, ``shape``, ``3d_coords`` and ``pixel_coords``.
Assumed: ``image_index`` / ``question_index`` fields (kept in meta when present); the test
split's re-rendered images (``clevr-math-test-images.zip``) unpacked to the same
``CLEVR_v1.0/images/test/`` folder (set ``image_dir`` otherwise); they have no scene file.

Rows: reward type ``digit``, answer the count as text. The extra context (the paper's step 2,
"CLEVR scene synthesis info") is the image's scene rendered as text in ``meta["context"]``:
one line per object with size, colour, material, shape and pixel position, as the released
VLAA-Thinking records' ``rationale`` ("There are a large blue metal sphere, ...") suggests.
Without a scene file the rows carry no context.

Options: ``split`` (default ``train``), ``annotation`` (question file), ``image_dir`` (image
folder relative to the source folder, default ``CLEVR_v1.0/images/<split>``), ``scenes``
(scene file relative to the source folder; ``""`` for none), ``image_root`` (the folder
``image_dir`` is relative to; default the source folder).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path, PurePosixPath
from typing import Any

from vlaa.data.json_array_scan import ArrayBroken, iter_array_items
from vlaa.data.limits import current_limits
from vlaa.data.sources._common import (
    RowMaker,
    check_options,
    image_root,
    iter_records,
    label,
    limited,
    locate_annotation,
    text,
)
from vlaa.data.sources.base import CONTEXT_KEY, SourceError, SourceReader, SourceRow, SourceSpec

KIND = "clevr_math"
logger = logging.getLogger(__name__)


def open_clevr_math(spec: SourceSpec, root: Path) -> SourceReader:
    check_options(spec, ("split", "image_dir", "scenes"))
    split = str(spec.options.get("split", "train"))
    base, annotation = locate_annotation(root, spec, [f"clevr-math-{split}.json"])
    image_dir = str(spec.options.get("image_dir", f"CLEVR_v1.0/images/{split}")).strip("/")
    scenes = _scene_file(base, spec, split)
    maker = RowMaker(KIND, image_root(base, spec, base), label(annotation, base))
    rows = _rows(annotation, maker, image_dir, scenes)
    return SourceReader(name=KIND, rows=limited(rows, spec.limit), image_prefix=KIND)


def _scene_file(base: Path, spec: SourceSpec, split: str) -> Path | None:
    """The scene file: the option's (must exist; ``""`` for none), else the default if present."""
    if "scenes" not in spec.options:
        default = base / f"CLEVR_v1.0/scenes/CLEVR_{split}_scenes.json"
        return default if default.is_file() else None
    if not spec.options["scenes"]:
        return None
    path = base / str(spec.options["scenes"])
    if not path.is_file():
        raise SourceError(f"source {KIND!r}: scene file {path} does not exist")
    return path


def _rows(
    annotation: Path, maker: RowMaker, image_dir: str, scenes: Path | None
) -> Generator[SourceRow, None, None]:
    contexts: dict[str, str] | None = None
    for number, record, problem in iter_records(annotation, "questions.item"):
        if record is None:
            assert problem is not None
            yield maker.bad(number, *problem)
            continue
        if scenes is not None and contexts is None:
            contexts = scene_contexts(scenes)  # read once, only when a row needs it
        yield _row(number, record, maker, image_dir, contexts or {})


def _row(
    number: int, record: dict[str, Any], maker: RowMaker, image_dir: str, contexts: dict[str, str]
) -> SourceRow:
    filename = text(record, "image_filename")
    question = text(record, "question")
    if filename is None or question is None:
        missing = [f for f, v in (("image_filename", filename), ("question", question)) if not v]
        return maker.bad(
            number, "missing_field", f"missing field(s): {', '.join(missing)}", question=question
        )
    record_id = f"{PurePosixPath(filename).stem}-{record.get('question_index', number)}"
    if record.get("answer") is None:
        return maker.bad(
            number,
            "missing_answer",
            "no answer (test split?)",
            record_id=record_id,
            question=question,
        )
    answer = _count(record.get("answer"))
    if answer is None:
        return maker.bad(
            number,
            "invalid_answer",
            f"answer {record.get('answer')!r} is not a count",
            record_id=record_id,
            question=question,
        )
    meta: dict[str, Any] = {
        "image_filename": filename,
        "template": str(record.get("template_filename", "")).removesuffix(".json"),
    }
    for field in ("image_index", "question_index", "split"):
        if field in record:
            meta[field] = record[field]
    if filename in contexts:
        meta[CONTEXT_KEY] = contexts[filename]
    return maker.row(
        number,
        record_id=record_id,
        image=f"{image_dir}/{filename}",
        question=question,
        answer=answer,
        reward_type="digit",
        meta=meta,
    )


def _count(value: Any) -> str | None:
    """A whole-number answer as text (``3``, ``3.0``, ``"3"``), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    candidate = str(value).strip() if isinstance(value, int | str) else ""
    return candidate if candidate.lstrip("-").isdigit() else None


def scene_contexts(path: Path) -> dict[str, str]:
    """``image_filename -> scene text`` for every scene of a CLEVR scene file (streamed, each
    scene held to the build's input limits; a scene over them only leaves its rows without
    context, and is logged)."""
    contexts: dict[str, str] = {}
    skipped = 0
    with path.open("rb") as handle:
        try:
            for item in iter_array_items(handle, "scenes.item", current_limits()):
                scene = item.value
                if isinstance(scene, dict) and isinstance(scene.get("image_filename"), str):
                    contexts[scene["image_filename"]] = describe_scene(scene.get("objects"))
                elif item.problem is not None:
                    skipped += 1
        except ArrayBroken as error:
            raise SourceError(f"{path}: invalid CLEVR scene file: {error}") from error
    if skipped:
        logger.warning("%s: %d scene(s) over the input limits give no context", path, skipped)
    return contexts


def describe_scene(objects: Any) -> str:
    """The objects of a CLEVR scene as text: size, colour, material, shape, pixel position."""
    if not isinstance(objects, list) or not objects:
        return "The scene has no objects."
    lines = [f"The scene has {len(objects)} object{'s' if len(objects) != 1 else ''}:"]
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        words = [str(obj.get(key, "")) for key in ("size", "color", "material", "shape")]
        line = "- a " + " ".join(word for word in words if word)
        position = obj.get("pixel_coords")
        if isinstance(position, list) and len(position) >= 2:
            line += f" at pixel (x={round(position[0])}, y={round(position[1])})"
        lines.append(line)
    return "\n".join(lines)
