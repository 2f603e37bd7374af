"""Reasoning benchmarks of the paper's evaluation, read from local copies of their releases.

``load_benchmark(name, path)`` reads one benchmark's published files (Parquet / JSON / JSON
lines, as released) from a local folder into :class:`EvalItem` s; ``scoring`` scores
predictions and aggregates them as each benchmark's authors do; ``protocol`` holds the
paper's decoding settings and published numbers. No dataset hub is contacted.

Object-store copies (``s3://bucket/prefix``, e.g. in the cluster's MinIO) are copied once to a
local cache through ``vlaa.storage`` by :func:`resolve_local_root`; the adapters only ever
read a local folder.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from tqdm import tqdm

from vlaa.benchmarks import dynamath, logicvista, mathverse, mathvision, mathvista, wemath
from vlaa.benchmarks.items import (
    PROMPT_STYLES,
    BenchmarkDataError,
    EvalItem,
    ImageResolver,
    LoadContext,
    PromptStyle,
    default_cache_dir,
)
from vlaa.benchmarks.protocol import (
    HEADLINE_METRICS,
    MAX_NEW_TOKENS,
    MAX_PIXELS,
    PAPER_PROTOCOL,
    PAPER_RESULTS_PERCENT,
    EvalProtocol,
)
from vlaa.benchmarks.scoring import ItemScore, aggregate, extract_prediction, score_prediction

__all__ = [
    "BENCHMARKS",
    "HEADLINE_METRICS",
    "MAX_NEW_TOKENS",
    "MAX_PIXELS",
    "PAPER_PROTOCOL",
    "PAPER_RESULTS_PERCENT",
    "PROMPT_STYLES",
    "BenchmarkDataError",
    "BenchmarkSpec",
    "EvalItem",
    "EvalProtocol",
    "ItemScore",
    "PromptStyle",
    "aggregate",
    "extract_prediction",
    "load_benchmark",
    "resolve_local_root",
    "score_prediction",
]


class BenchmarkSpec(NamedTuple):
    """One registered benchmark: how to load it and what the paper evaluates of it."""

    name: str
    loader: Callable[..., list[EvalItem]]
    evaluated: str  # the part of the release the paper reports


BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in (
        BenchmarkSpec(mathvista.NAME, mathvista.load, "testmini, overall accuracy"),
        BenchmarkSpec(mathvision.NAME, mathvision.load, "full test set, accuracy"),
        BenchmarkSpec(mathverse.NAME, mathverse.load, 'testmini, "Vision Only" accuracy'),
        BenchmarkSpec(dynamath.NAME, dynamath.load, "501 seeds x 10 variants, worst case"),
        BenchmarkSpec(wemath.NAME, wemath.load, 'testmini, "Score (Strict)"'),
        BenchmarkSpec(logicvista.NAME, logicvista.load, "full test set, accuracy"),
    )
}


# Written last in a downloaded copy: its presence means every object arrived.
COMPLETE_MARKER = ".complete"


def resolve_local_root(path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The local folder holding a benchmark copy named by a path or URI.

    Local paths and ``file://`` URIs are used in place. An ``s3://bucket/prefix`` copy is
    downloaded once, every key under the prefix, into ``<cache>/s3/<hash of the URI>/`` (a
    ``.complete`` marker written last makes a later call reuse it; an interrupted download is
    fetched again). Endpoint and credentials come from the environment, as for publishing.
    """
    text = str(path)
    parts = urlsplit(text)
    # A one-letter "scheme" is a Windows drive letter, i.e. a local path.
    if isinstance(path, Path) or parts.scheme == "" or len(parts.scheme) == 1:
        return Path(text).expanduser()
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "s3":
        return _download_s3_copy(text, Path(cache_dir) if cache_dir else default_cache_dir())
    raise ValueError(f"unsupported benchmark location {text!r}: give a local folder or s3:// URI")


def _download_s3_copy(uri: str, cache_dir: Path) -> Path:
    from vlaa.storage import StoreError, open_store

    target = cache_dir / "s3" / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
    marker = target / COMPLETE_MARKER
    if marker.is_file():
        return target
    try:
        store = open_store(uri)
        keys = store.list()
        if not keys:
            raise BenchmarkDataError(f"{uri}: no objects under this prefix")
        for key in tqdm(keys, desc=f"download {uri}", unit="file", leave=False):
            destination = (target / key).resolve()
            if not destination.is_relative_to(target.resolve()):
                raise BenchmarkDataError(f"{uri}: object key {key!r} escapes the copy's folder")
            destination.parent.mkdir(parents=True, exist_ok=True)
            store.get_file(key, destination)
    except StoreError as error:
        raise BenchmarkDataError(f"{uri}: cannot copy the benchmark from S3: {error}") from None
    marker.write_text(uri)
    return target


def load_benchmark(
    name: str,
    path: str | Path,
    limit: int | None = None,
    *,
    cache_dir: str | Path | None = None,
    task_instruction: bool = True,
    prompt_style: str = "training",
    **options: Any,
) -> list[EvalItem]:
    """Read benchmark ``name`` from its published layout under ``path``.

    ``limit`` keeps the first items (in the order each adapter documents). Images embedded
    in Parquet files are written under ``cache_dir`` (default: ``$VLAA_BENCHMARK_CACHE`` or
    ``~/.cache/vlaa/benchmarks``). ``task_instruction`` appends the training-time answer
    instruction (``vlaa.prompts.TASK_INSTRUCTIONS``) to each question under ``prompt_style``
    ``"training"``; ``"vlmevalkit"`` sends each benchmark's prompt as VLMEvalKit builds it
    (``vlaa.benchmarks.vlmevalkit``, the paper's protocol). ``options`` go to the
    adapter (``split`` for MathVista / MathVision, ``versions`` for MathVerse). A record with
    a missing field or image raises :class:`BenchmarkDataError` naming file, record and field.
    """
    spec = BENCHMARKS.get(name)
    if spec is None:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    if prompt_style not in PROMPT_STYLES:
        known = ", ".join(PROMPT_STYLES)
        raise ValueError(f"unknown prompt style {prompt_style!r}; known: {known}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    root = resolve_local_root(path, cache_dir)
    if not root.exists():
        raise BenchmarkDataError(f"{name}: benchmark folder {root} does not exist")
    if root.is_file():  # the annotation file itself was given: its folder is the root
        root = root.parent
    images = ImageResolver(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    context = LoadContext(images, limit, task_instruction, prompt_style)
    items = spec.loader(
        root,
        context,
        **options,
    )
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        repeated = sorted(i for i, count in Counter(ids).items() if count > 1)[:5]
        raise BenchmarkDataError(f"{name}: ids repeat under {root}: {repeated}")
    return items
