"""Reasoning benchmarks of the paper's evaluation, read from local copies of their releases.

``load_benchmark(name, path)`` reads one benchmark's published files (Parquet / JSON / JSON
lines, as released) from a local folder into :class:`EvalItem` s; ``scoring`` scores
predictions and aggregates them as each benchmark's authors do; ``protocol`` holds the
paper's decoding settings and published numbers. No dataset hub is contacted.

Object-store copies (``s3://bucket/prefix``) are meant to be copied to a local folder first
through ``vlaa.storage``; :func:`resolve_local_root` is the one place that will do it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from vlaa.benchmarks import dynamath, logicvista, mathverse, mathvision, mathvista, wemath
from vlaa.benchmarks.items import (
    BenchmarkDataError,
    EvalItem,
    ImageResolver,
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
    "BenchmarkDataError",
    "BenchmarkSpec",
    "EvalItem",
    "EvalProtocol",
    "ItemScore",
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


def resolve_local_root(path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The local folder holding a benchmark copy named by a path or URI.

    Local paths and ``file://`` URIs are used in place. ``s3://`` is the hook for object-store
    copies: the plan is to open the prefix with ``vlaa.storage.open_store(uri)``, copy every
    key (``list()`` / ``get_bytes()``) under ``cache_dir`` once and return that folder, so the
    adapters only ever see a local folder. Not implemented yet, so it fails with a message
    saying what to do instead.
    """
    text = str(path)
    parts = urlsplit(text)
    # A one-letter "scheme" is a Windows drive letter, i.e. a local path.
    if isinstance(path, Path) or parts.scheme == "" or len(parts.scheme) == 1:
        return Path(text).expanduser()
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "s3":
        raise NotImplementedError(
            f"benchmark copies on S3 ({text}) are not supported yet: copy the prefix to a "
            "local folder and pass that folder (hook: vlaa.benchmarks.resolve_local_root)"
        )
    raise ValueError(f"unsupported benchmark location {text!r}: give a local folder path")


def load_benchmark(
    name: str,
    path: str | Path,
    limit: int | None = None,
    *,
    cache_dir: str | Path | None = None,
    task_instruction: bool = True,
    **options: Any,
) -> list[EvalItem]:
    """Read benchmark ``name`` from its published layout under ``path``.

    ``limit`` keeps the first items (in the order each adapter documents). Images embedded
    in Parquet files are written under ``cache_dir`` (default: ``$VLAA_BENCHMARK_CACHE`` or
    ``~/.cache/vlaa/benchmarks``). ``task_instruction`` appends the training-time answer
    instruction (``vlaa.prompts.TASK_INSTRUCTIONS``) to each question. ``options`` go to the
    adapter (``split`` for MathVista / MathVision, ``versions`` for MathVerse). A record with
    a missing field or image raises :class:`BenchmarkDataError` naming file, record and field.
    """
    spec = BENCHMARKS.get(name)
    if spec is None:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    root = resolve_local_root(path, cache_dir)
    if not root.exists():
        raise BenchmarkDataError(f"{name}: benchmark folder {root} does not exist")
    if root.is_file():  # the annotation file itself was given: its folder is the root
        root = root.parent
    images = ImageResolver(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    items = spec.loader(
        root, limit=limit, images=images, task_instruction=task_instruction, **options
    )
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        repeated = sorted(i for i, count in Counter(ids).items() if count > 1)[:5]
        raise BenchmarkDataError(f"{name}: ids repeat under {root}: {repeated}")
    return items
