"""Reader of the released VLAA-Thinking files (the paper, "Released format"), source ``release``.

Layout of a downloaded copy (UCSC-VLAA/VLAA-Thinking, ``utils/download_dataset.sh``)::

    <root>/VLAA-Thinking-SFT-126K.json   -> records with split "sft"
    <root>/VLAA-Thinking-GRPO-25K.json   -> records with split "rl"
    <root>/images/<source>/...           allava_laion, arxivqa, clevr_math, coco/train2017,
                                         docvqa, geoqa170k, synthesis, vg/VG_100K(_2), vizwiz

Each file is a JSON array (streamed item by item, ``vlaa.data.json_array_scan``) or JSON lines
(read line by line), told apart by its first non-whitespace byte, so memory does not grow with
the file size; each line or item is held to the build's ``InputLimits`` (bytes, nesting depth,
finite numbers) before it is parsed, and one over them is quarantined (``row_too_large``,
``json_too_deep``, ``non_finite_number``).

Field names
-----------
Confirmed by the sample records of the release README ("Examples"): ``id``, ``image``,
``question``, ``gt``, ``ds_answer`` (DeepSeek-R1's output, ``<think>...</think>`` then the final
text), ``caption`` and ``meta`` (e.g. ``caption_model_id``, ``rationale``, ``text_question``).
Also confirmed there: ``image`` is relative to ``images/`` ("clevr_math/CLEVR_train_027977.png"),
once with a leading slash ("/allava_laion/images/100760552.jpeg"); ``gt`` is a number for
CLEVR-Math (``3``), a letter for GeoQA and ArxivQA, free text for ALLaVA, and for Math PUMA
("synthesis") a worked solution ending in ``†Answer: <expression>``.

Assumed (no sample published): the GRPO file has the same fields (``ds_answer`` may be absent
there: GRPO needs no reasoning); the folder names docvqa, vizwiz, coco and vg (from the download
script) hold the DocVQA, VizWiz and LLaVA-CoT COCO / VisualGenome images; their box ground
truths are written ``"[x1, y1, x2, y2]"`` (or a list of 4 numbers); an ``image`` written
``images/<source>/...`` (the paper's wording) means the same as ``<source>/...``. The README's
older tree names the files ``train-sft.json`` / ``train-grpo.json``; those are read when the
released names are absent.

Verifier type (not confirmed): neither the release README nor the repository
(UCSC-VLAA/VLAA-Thinking at a2c9678) names a per-record verifier field, and no GRPO sample is
published. A public third-party preprocessing script for ``VLAA-Thinking-GRPO-25K.json`` counts
a ``verifier_type`` field, so that name is read first, then the likely ``reward_type`` and
``verifier`` (``VERIFIER_FIELDS``). Its value names one of the five verifiers, also in the
spellings of ``VERIFIER_ALIASES`` (``multiple_choice``, ``bbox``, ``open_ended``, ...); when
present it must agree with the image folder's type, else the row is quarantined
(``reward_type_mismatch``; an unknown name is ``invalid_field``). Absent, the folder decides.

DocVQA / VizWiz ground truths may be lists of annotators' answers: for ``open`` a non-empty list
of texts is kept as the record's answer (any of them counts when scoring); a list for any other
type is ``invalid_answer``.

Mapping to records (``vlaa.records.Record`` fields)
---------------------------------------------------
``source`` = the ``<source>`` folder of the image path; ``reward_type`` from the paper's table
(``REWARD_TYPE_BY_FOLDER``; chartqa, downloaded by the script but absent from the table, is an
unknown source); ``answer`` = ``gt`` (a box as 4 floats for ``iou``; the text after
``†Answer:`` when ``gt`` holds a worked solution, the full ``gt`` then kept in
``meta["released_gt"]``; a ``math`` answer in plain-text notation, ``2 * sin(x)``, rewritten
as LaTeX, ``2 \\cdot \\sin(x)``, the text as released kept in ``meta["answer_original"]``);
``reasoning`` / ``response`` from ``ds_answer``; ``has_aha`` from the
reasoning; ``split`` from the file; ``meta`` = the released meta plus ``release_file`` and
``teacher: "released"``.

Bad rows are yielded with ``SourceRow.problem`` (``missing_field``, ``invalid_field``,
``invalid_image_path``, ``parent_image_path``, ``unknown_source``, ``invalid_answer``,
``malformed_response``, and for JSON lines ``invalid_json`` / ``non_utf8``). A JSON array broken
mid-file cannot be resynchronised: the rows before the break are yielded, then ``SourceError``
names the file, the items read and the byte range of the break (a truncated or corrupt download
should be fetched again, not imported in part; how many records it lost is unknown, so they
cannot be counted in quarantine).

Options (``SourceSpec.options``): ``files``, a list of file names under the root (split from the
name: ``sft`` or ``grpo`` in it) or a mapping ``{name: "sft" | "rl"}``. Default: the released
files that exist. ``spec.path`` may also name one release file directly.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from vlaa.boxes import json_box
from vlaa.data import rules
from vlaa.data.json_array_scan import ArrayBroken, iter_array_items
from vlaa.data.json_bounds import parse_row, read_lines, too_large
from vlaa.data.limits import current_limits
from vlaa.data.sources.base import BOTH_ROLES, SourceError, SourceReader, SourceRow, SourceSpec
from vlaa.records import IMAGES_DIR, REWARD_TYPES, check_relative_image_path, is_answer_list

SFT_FILE = "VLAA-Thinking-SFT-126K.json"
GRPO_FILE = "VLAA-Thinking-GRPO-25K.json"
# split -> file names in order of preference: the released name, then the README's older one.
DEFAULT_FILES: dict[str, tuple[str, ...]] = {
    "sft": (SFT_FILE, "train-sft.json"),
    "rl": (GRPO_FILE, "train-grpo.json"),
}

# Image folder -> reward type, from the paper's source table.
REWARD_TYPE_BY_FOLDER: dict[str, str] = {
    "clevr_math": "digit",
    "geoqa170k": "mcq",
    "synthesis": "math",  # Math PUMA, Synthesis subset
    "arxivqa": "mcq",
    "docvqa": "open",
    "vizwiz": "open",
    "allava_laion": "open",
    "coco": "iou",  # LLaVA-CoT COCO
    "vg": "iou",  # LLaVA-CoT VisualGenome
}

# Per-record verifier type, most likely name first (module docstring: not confirmed).
VERIFIER_FIELDS: tuple[str, ...] = ("verifier_type", "reward_type", "verifier")
VERIFIER_ALIASES: dict[str, str] = {
    **{name: name for name in REWARD_TYPES},
    "number": "digit",
    "numeric": "digit",
    "multiple_choice": "mcq",
    "choice": "mcq",
    "bbox": "iou",
    "grounding": "iou",
    "open_ended": "open",
    "general": "open",
}

ANSWER_TEXT_FIELD = "ds_answer"
REQUIRED_FIELDS: tuple[str, ...] = ("id", "image", "question", "gt")
TEXT_FIELDS: tuple[str, ...] = ("image", "question", "caption", ANSWER_TEXT_FIELD)
# Math PUMA's ground truth is a worked solution; the final answer follows this mark.
FINAL_ANSWER_MARK = "†Answer:"
RELEASE_TEACHER = "released"

_UTF8_BOM = b"\xef\xbb\xbf"

Format = Literal["array", "jsonl"]
Problem = tuple[str, str]


@dataclass(frozen=True)
class ReleaseFile:
    """One release file to read: where it is, the split of its records, its format."""

    path: Path
    split: str
    format: Format
    start: int  # byte offset of the content (after a UTF-8 byte-order mark)


def open_release(spec: SourceSpec, root: Path) -> SourceReader:
    """Open a downloaded VLAA-Thinking release at ``root`` (a folder, or one release file)."""
    root, files = _release_files(spec, root)
    image_root = root / IMAGES_DIR
    rows: Iterator[SourceRow] = itertools.chain.from_iterable(
        _file_rows(file, image_root) for file in files
    )
    if spec.limit is not None:
        rows = itertools.islice(rows, spec.limit)
    return SourceReader(name="release", rows=rows, image_prefix="", roles=BOTH_ROLES)


def _release_files(spec: SourceSpec, root: Path) -> tuple[Path, list[ReleaseFile]]:
    """The folder holding ``images/`` and the files to read, checked before any row is read."""
    unknown = sorted(set(spec.options) - {"files"})
    if unknown:
        raise SourceError(f"release: unknown option(s) {', '.join(unknown)}; the only one is files")
    if root.is_file():
        if "files" in spec.options:
            raise SourceError(f"release: {root} is a file; give a folder to choose files in it")
        named = {root.name: _split_from_name(root.name)}
        root = root.parent
    elif "files" in spec.options:
        named = _named_files(spec.options["files"])
    else:
        named = _default_files(root)
    files: list[ReleaseFile] = []
    for name, split in named.items():
        path = root / name
        if not path.is_file():
            raise SourceError(f"release: {path} does not exist")
        file_format, start = detect_format(path)
        files.append(ReleaseFile(path=path, split=split, format=file_format, start=start))
    return root, files


def _default_files(root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for split, names in DEFAULT_FILES.items():
        existing = [name for name in names if (root / name).is_file()]
        if existing:
            found[existing[0]] = split
    if not found:
        raise SourceError(
            f"release: no release file in {root}: expected {SFT_FILE} and/or {GRPO_FILE} "
            "(or name the files with options.files)"
        )
    return found


def _named_files(option: Any) -> dict[str, str]:
    if isinstance(option, str):
        option = [option]
    if isinstance(option, dict):
        bad = {name: split for name, split in option.items() if split not in DEFAULT_FILES}
        if bad:
            raise SourceError(f"release: options.files splits must be sft or rl, got {bad}")
        named = {str(name): str(split) for name, split in option.items()}
    elif isinstance(option, list) and all(isinstance(name, str) for name in option):
        named = {name: _split_from_name(name) for name in option}
    else:
        raise SourceError(
            "release: options.files must be a list of file names or a {name: split} mapping"
        )
    if not named:
        raise SourceError("release: options.files names no file")
    return named


def _split_from_name(name: str) -> str:
    lowered = name.lower()
    if "grpo" in lowered:
        return "rl"
    if "sft" in lowered:
        return "sft"
    raise SourceError(
        f"release: cannot tell the split of {name!r} from its name (no 'sft' or 'grpo' in it); "
        f"give options.files as {{{name!r}: 'sft' | 'rl'}}"
    )


def detect_format(path: Path) -> tuple[Format, int]:
    """``("array" | "jsonl", content start)`` from the first non-whitespace byte of ``path``."""
    with path.open("rb") as handle:
        start = len(_UTF8_BOM) if handle.read(len(_UTF8_BOM)) == _UTF8_BOM else 0
        handle.seek(start)
        while block := handle.read(65536):
            stripped = block.lstrip()
            if not stripped:
                continue
            if stripped[:1] == b"[":
                return "array", start
            if stripped[:1] == b"{":
                return "jsonl", start
            raise SourceError(
                f"release: {path} is neither a JSON array nor JSON lines "
                f"(starts with {stripped[:20]!r})"
            )
    raise SourceError(f"release: {path} is empty")


def _file_rows(file: ReleaseFile, image_root: Path) -> Iterator[SourceRow]:
    if file.format == "array":
        return _array_rows(file, image_root)
    return _jsonl_rows(file, image_root)


def _jsonl_rows(file: ReleaseFile, image_root: Path) -> Iterator[SourceRow]:
    name = file.path.name
    limits = current_limits()
    with file.path.open("rb") as handle:
        handle.seek(file.start)
        for number, raw in read_lines(handle, limits.max_row_bytes):
            location = f"{name}:line {number}"
            if raw is None:
                yield SourceRow({}, image_root, location, too_large(limits))
                continue
            line = raw.strip()
            if not line:
                continue
            released, problem = parse_row(line, limits)
            if problem is not None:
                # Only a row that fit the limits is kept as bytes (the builder names it by id).
                data = line if problem[0] in ("invalid_json", "non_utf8") else {}
                yield SourceRow(data, image_root, location, problem)
                continue
            yield _row(released, file, location, image_root)


def _array_rows(file: ReleaseFile, image_root: Path) -> Iterator[SourceRow]:
    name = file.path.name
    read = 0
    with file.path.open("rb") as handle:
        handle.seek(file.start)
        try:
            for item in iter_array_items(handle, "item", current_limits(), start=file.start):
                read = item.index + 1
                location = f"{name}:item {read}"
                if item.problem is not None:
                    yield SourceRow({}, image_root, location, item.problem)
                else:
                    yield _row(item.value, file, location, image_root)
        except ArrayBroken as error:
            raise SourceError(
                f"release: {file.path} is not a valid JSON array: {error.reason}, "
                f"{_where(error, file.path)}, after item {error.items} ({error.items} rows were "
                "read before it; the rest of the file cannot be read)"
            ) from error


def _where(error: ArrayBroken, path: Path) -> str:
    if "truncated" in error.reason and error.offset >= path.stat().st_size:
        return f"at byte offset {error.offset} (end of file: truncated?)"
    return f"at byte offset {error.offset}"


def _row(released: Any, file: ReleaseFile, location: str, image_root: Path) -> SourceRow:
    if not isinstance(released, dict):
        kind = type(released).__name__
        raw = json.dumps(released, ensure_ascii=False).encode("utf-8")
        return SourceRow(raw, image_root, location, ("invalid_json", f"a JSON {kind}, not object"))
    data, problem = map_released(released, file.path.name, file.split)
    return SourceRow(data, image_root, location, problem)


def map_released(
    released: dict[str, Any], release_file: str, split: str
) -> tuple[dict[str, Any], Problem | None]:
    """Record fields of one released object, or the known fields and the problem found."""
    partial: dict[str, Any] = {"id": "" if released.get("id") is None else str(released["id"])}
    required = (*REQUIRED_FIELDS, ANSWER_TEXT_FIELD) if split == "sft" else REQUIRED_FIELDS
    missing = [name for name in required if released.get(name) in (None, "", [], {})]
    if missing:
        return partial, ("missing_field", f"missing field(s): {', '.join(missing)}")
    problem = _type_problem(released)
    if problem:
        return partial, problem
    image, problem = normalise_image_path(released["image"])
    if problem:
        return partial, problem
    source = image.split("/", 1)[0]
    partial.update(source=source, image=image)
    reward_type = REWARD_TYPE_BY_FOLDER.get(source)
    if reward_type is None:
        known = ", ".join(REWARD_TYPE_BY_FOLDER)
        return partial, (
            "unknown_source",
            f"image folder {source!r} is not a known source ({known})",
        )
    problem = _verifier_problem(released, source, reward_type)
    if problem:
        return partial, problem
    answer, problem = ground_truth(released["gt"], reward_type)
    if problem:
        return partial, problem
    reasoning = response = ""
    if released.get(ANSWER_TEXT_FIELD):
        reasoning, final = rules.split_reasoning_output(released[ANSWER_TEXT_FIELD])
        if final is None:
            detail = f"{ANSWER_TEXT_FIELD} has no <think>...</think> followed by an answer"
            return partial, ("malformed_response", detail)
        response = rules.format_response(reasoning, final)
    meta = {**(released.get("meta") or {}), "release_file": release_file}
    meta["teacher"] = RELEASE_TEACHER
    gt = released["gt"]
    if reward_type != "iou" and isinstance(gt, str) and answer != gt.strip():
        meta["released_gt"] = gt  # a worked solution; the answer is its final part
    if reward_type == "math" and isinstance(answer, str):
        answer = rules.normalise_math_ground_truth(answer, meta)  # "sin(x)" -> "\\sin(x)"
    record = {
        **partial,
        "question": released["question"],
        "answer": answer,
        "reward_type": reward_type,
        "caption": released.get("caption") or "",
        "reasoning": reasoning,
        "response": response,
        "has_aha": rules.has_aha(reasoning),
        "split": split,
        "meta": meta,
    }
    return record, None


def _verifier_problem(released: dict[str, Any], source: str, reward_type: str) -> Problem | None:
    """A declared verifier type that is unknown or contradicts the image folder's type."""
    field = next((name for name in VERIFIER_FIELDS if released.get(name) not in (None, "")), None)
    if field is None:
        return None
    value = released[field]
    key = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    declared = VERIFIER_ALIASES.get(key) if isinstance(value, str) else None
    if declared is None:
        known = ", ".join(REWARD_TYPES)
        return "invalid_field", f"{field} {value!r} names no verifier ({known})"
    if declared != reward_type:
        return (
            "reward_type_mismatch",
            f"{field} {value!r} contradicts image folder {source!r}, whose type is {reward_type}",
        )
    return None


def _type_problem(released: dict[str, Any]) -> Problem | None:
    if not isinstance(released["id"], str | int) or isinstance(released["id"], bool):
        return "invalid_field", f"id is a JSON {type(released['id']).__name__}, not text"
    for name in TEXT_FIELDS:
        value = released.get(name)
        if value is not None and not isinstance(value, str):
            return "invalid_field", f"{name} is a JSON {type(value).__name__}, not text"
    meta = released.get("meta")
    if meta is not None and not isinstance(meta, dict):
        return "invalid_field", f"meta is a JSON {type(meta).__name__}, not an object"
    return None


def normalise_image_path(raw: str) -> tuple[str, Problem | None]:
    """The image path relative to ``images/``: ``<source>/...``, and any problem with it.

    The release writes ``clevr_math/x.png`` and ``/allava_laion/images/x.jpeg``; the paper
    writes ``images/<source>/...``. All three mean a file under ``<root>/images``.
    """
    if "\\" in raw:
        return raw, ("invalid_image_path", f"image path {raw!r} uses backslashes")
    parts = [part for part in PurePosixPath(raw.strip()).parts if part != "/"]
    if parts and parts[0] == IMAGES_DIR:
        parts = parts[1:]
    path = "/".join(parts)
    try:
        check_relative_image_path(path)
    except ValueError as error:
        reason = "parent_image_path" if "'..'" in str(error) else "invalid_image_path"
        return path, (reason, str(error))
    if len(parts) < 2:
        return path, ("invalid_image_path", f"image path {raw!r} has no <source> folder")
    return path, None


def ground_truth(gt: Any, reward_type: str) -> tuple[str | list[float] | list[str], Problem | None]:
    """The record answer for a released ``gt``: a box for ``iou``, a list of annotators'
    answers for ``open`` when ``gt`` is one, else text."""
    if reward_type == "iou":
        box = json_box(gt)
        if box is None:
            return "", ("invalid_answer", f"iou ground truth {gt!r} is not a box [x1, y1, x2, y2]")
        return box, None
    if _is_number(gt):
        return str(gt), None
    if reward_type == "open" and isinstance(gt, list):
        texts = [v for v in gt if isinstance(v, str | int | float) and not isinstance(v, bool)]
        answers = [str(v).strip() for v in texts]
        if len(answers) != len(gt) or not is_answer_list(answers) or not all(answers):
            return "", ("invalid_answer", f"open ground truth {gt!r} is not a list of answers")
        return answers, None
    if not isinstance(gt, str):
        return "", ("invalid_answer", f"{reward_type} ground truth is a JSON {type(gt).__name__}")
    if FINAL_ANSWER_MARK in gt:
        final = gt.rsplit(FINAL_ANSWER_MARK, 1)[1].strip().removesuffix(".").strip()
        if final:
            return final, None
    return gt.strip(), None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
