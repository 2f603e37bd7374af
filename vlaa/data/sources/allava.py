"""ALLaVA-LAION (FreedomIntelligence/ALLaVA-4V, ``allava_laion/``): open-ended questions on LAION
images, with GPT-4V answers and GPT-4V captions.

Layout read (the repository, ``allava_laion/images.zip`` unpacked)::

    allava_laion/ALLaVA-Instruct-LAION-4V.json   [ {"id": "allava_laion_inst_100277305",
                                                    "image": "allava_laion/images/100277305.jpeg",
                                                    "conversations": [...],
                                                    "original_caption", "url"}, ... ]
    allava_laion/ALLaVA-Caption-LAION-4V.json    [ {"id": "allava_laion_cap_100277305", ...} ]
    allava_laion/images/100277305.jpeg

Confirmed (ALLaVA README's folder tree and sample records): both files are JSON arrays of
``{"id", "image", "conversations", "original_caption", "url"}``; the instruct and caption
records of one image share the number after ``allava_laion_inst_`` / ``allava_laion_cap_``;
image paths are relative to the repository root (``allava_laion/images/<n>.jpeg``); the
caption record's assistant turn is GPT-4V's detailed caption; ``original_caption`` is the
LAION alt text. Confirmed (released VLAA-Thinking ALLaVA records): the question and
ground truth come from the instruct file and the caption is ALLaVA's GPT-4V caption.
Assumed: an instruct record with no ``image`` field (early releases) uses
``allava_laion/images/<n>.jpeg``.

Rows: reward type ``open``; question and answer are the instruct record's first exchange
(``<image>`` removed). The extra context (the paper's step 2, "ALLaVA's original caption") is
the caption record's caption in ``meta["context"]``, joined by image number. The join
streams both files: when they list images in the same order (as released) it holds one
caption at a time; captions met out of order wait in memory until their question comes. A
question whose image has no caption record keeps no context (``meta["context"]`` absent).
Ids ``allava_laion-<n>``.

Options: ``annotation`` (instruct file), ``captions`` (caption file relative to the source
folder; ``""`` for none), ``image_root`` (default: the folder holding ``allava_laion/``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from vlaa.data.sources._common import (
    Entry,
    RowMaker,
    check_options,
    first_exchange,
    image_root,
    iter_records,
    label,
    limited,
    locate_annotation,
    strip_image_token,
    text,
)
from vlaa.data.sources.base import CONTEXT_KEY, SourceError, SourceReader, SourceRow, SourceSpec

KIND = "allava_laion"
SUBSET = "allava_laion"
INSTRUCT_FILE = "ALLaVA-Instruct-LAION-4V.json"
CAPTION_FILE = "ALLaVA-Caption-LAION-4V.json"


def open_allava_laion(spec: SourceSpec, root: Path) -> SourceReader:
    check_options(spec, ("captions",))
    base, annotation = locate_annotation(root, spec, [f"{SUBSET}/{INSTRUCT_FILE}", INSTRUCT_FILE])
    captions = _caption_file(base, annotation, spec)
    # Image paths start with "allava_laion/": they are relative to the folder holding it.
    folder = annotation.parent
    default_root = folder.parent if folder.name == SUBSET else folder
    maker = RowMaker(KIND, image_root(base, spec, default_root), label(annotation, base))
    return SourceReader(
        name=KIND,
        rows=limited(_rows(annotation, captions, maker), spec.limit),
        image_prefix=KIND,
    )


def _caption_file(base: Path, annotation: Path, spec: SourceSpec) -> Path | None:
    if "captions" in spec.options:
        if not spec.options["captions"]:
            return None
        path = base / str(spec.options["captions"])
    else:
        path = annotation.parent / CAPTION_FILE
    if not path.is_file():
        raise SourceError(
            f"source {KIND!r}: caption file {path} does not exist (ALLaVA's captions are the "
            'extra context; set options.captions to another file, or to "" to read none)'
        )
    return path


def _rows(
    annotation: Path, captions: Path | None, maker: RowMaker
) -> Generator[SourceRow, None, None]:
    lookup = CaptionLookup(iter_records(captions) if captions else iter(()))
    with lookup:
        for number, record, problem in iter_records(annotation):
            if record is None:
                assert problem is not None
                yield maker.bad(number, *problem)
            else:
                yield _row(number, record, maker, lookup)


def _row(number: int, record: dict[str, Any], maker: RowMaker, lookup: CaptionLookup) -> SourceRow:
    original_id = text(record, "id")
    key = image_key(original_id) if original_id else None
    record_id = key or f"item{number}"
    human, assistant = first_exchange(record.get("conversations"))
    question = strip_image_token(human) if human else None
    image = text(record, "image") or (f"{SUBSET}/images/{key}.jpeg" if key else None)
    answer = assistant.strip() if assistant else None
    known = {"image": image, "question": question}
    missing = [
        name
        for name, value in (
            ("id", key),
            ("image", image),
            ("question", question),
            ("answer", answer),
        )
        if not value
    ]
    if missing:
        return maker.bad(
            number, "missing_field", f"missing {', '.join(missing)}", record_id=record_id, **known
        )
    meta: dict[str, Any] = {"allava_id": original_id}
    for field in ("original_caption", "url"):
        if text(record, field):
            meta[field] = text(record, field)
    caption = lookup.caption(str(key))
    if caption:
        meta[CONTEXT_KEY] = caption
    assert image is not None and question is not None and answer is not None
    return maker.row(
        number,
        record_id=record_id,
        image=image,
        question=question,
        answer=answer,
        reward_type="open",
        meta=meta,
    )


def image_key(allava_id: str) -> str | None:
    """The image number shared by ``allava_laion_inst_<n>`` and ``allava_laion_cap_<n>``."""
    _, separator, number = allava_id.rpartition("_")
    return number if separator and number else None


class CaptionLookup:
    """Captions by image number, read from a caption stream as far as needed (a merge join)."""

    def __init__(self, entries: Iterator[Entry]) -> None:
        self._entries = entries
        self._waiting: dict[str, str] = {}

    def __enter__(self) -> CaptionLookup:
        return self

    def __exit__(self, *_: object) -> None:
        close = getattr(self._entries, "close", None)
        if close is not None:
            close()

    def caption(self, key: str) -> str | None:
        if key in self._waiting:
            return self._waiting.pop(key)
        for _, record, _ in self._entries:
            if record is None:
                continue  # an unusable caption record only costs its question the context
            found = text(record, "id")
            _, answer = first_exchange(record.get("conversations"))
            found_key = image_key(found) if found else None
            if found_key is None or not answer or not answer.strip():
                continue
            if found_key == key:
                return answer.strip()
            self._waiting[found_key] = answer.strip()
        return None
