"""Source readers of the data engine: one module per source, opened by ``open_source``.

Each reader module exposes ``open_<kind>(spec, root) -> SourceReader`` (see ``base``); the table
below maps a ``SourceSpec.kind`` to it. Modules are imported on first use so a build reading one
source does not import the others.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from vlaa.data.sources.base import SourceError, SourceReader, SourceSpec

# kind -> (module, function). The module docstrings say which published layout each reads.
OPENERS: dict[str, tuple[str, str]] = {
    "clevr_math": ("vlaa.data.sources.clevr_math", "open_clevr_math"),
    "geoqa170k": ("vlaa.data.sources.geoqa", "open_geoqa170k"),
    "math_puma": ("vlaa.data.sources.math_puma", "open_math_puma"),
    "arxivqa": ("vlaa.data.sources.arxivqa", "open_arxivqa"),
    "docvqa": ("vlaa.data.sources.docvqa", "open_docvqa"),
    "vizwiz": ("vlaa.data.sources.vizwiz", "open_vizwiz"),
    "allava_laion": ("vlaa.data.sources.allava", "open_allava_laion"),
    "llava_cot_coco": ("vlaa.data.sources.llava_cot", "open_llava_cot_coco"),
    "llava_cot_vg": ("vlaa.data.sources.llava_cot", "open_llava_cot_vg"),
    "release": ("vlaa.data.sources.release", "open_release"),
    "records": ("vlaa.data.sources.records_folder", "open_records_folder"),
}


def open_source(spec: SourceSpec, cache_dir: Path | None = None) -> SourceReader:
    """Open the source ``spec`` names; an ``s3://`` copy is downloaded once into ``cache_dir``."""
    from vlaa.benchmarks import resolve_local_root

    if spec.kind not in OPENERS:
        raise SourceError(f"unknown source kind {spec.kind!r}; choose one of {', '.join(OPENERS)}")
    if not spec.path:
        raise SourceError(f"source {spec.kind!r} needs a path (local folder, file:// or s3://)")
    root = resolve_local_root(spec.path, cache_dir)
    if not root.exists():
        raise SourceError(f"source {spec.kind!r}: {spec.path} does not exist")
    module_name, function_name = OPENERS[spec.kind]
    opener = getattr(importlib.import_module(module_name), function_name)
    return opener(spec, root)


__all__ = ["OPENERS", "SourceError", "SourceReader", "SourceSpec", "open_source"]
