"""Resolve a model source (the ``base_model`` run parameter, a perplexity-scoring model) into a
model folder: the one resolver behind the prepare step, ``vlaa prepare`` and the SFT subset
scorers. Forms and their checks: ``vlaa.modeling.sources`` and docs/base-models.md.

Every resolution returns the lineage of what was written (repo and commit, S3 URI, registry
version, folder digest); the prepare step records it on its model artifact, training carries
it on, and publish writes it into the model card.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlaa.modeling.loading import check_model_dir
from vlaa.modeling.sources.errors import ModelSourceError
from vlaa.modeling.sources.files import copy_hashed, folder_digest, fresh_folder, hash_folder
from vlaa.modeling.sources.uri import ModelSource, parse_model_source
from vlaa.modeling.tiny_base import write_tiny_base
from vlaa.registry.config import DEFAULT_STORE_URI

# Written beside the model: where it came from (also the prepare artifact's metadata).
SOURCE_FILE = "vlaa_source.json"
REGISTRY_ENV = "VLAA_REGISTRY_URI"


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def card_name(self) -> str:
        """The model card's ``base_model``: the Hub repo id when there is one (the Hub links
        it), else the source as given."""
        return self.lineage.get("repo_id") or self.lineage["source"]


def registry_store(publish_store_uri: str | None = None) -> str:
    """Which registry ``registry://`` reads: the run's ``publish.store_uri`` if set, else
    ``VLAA_REGISTRY_URI``, else the publish step's default."""
    return publish_store_uri or os.environ.get(REGISTRY_ENV) or DEFAULT_STORE_URI


def resolve_base_model(
    source: str, output_dir: Path, *, registry_uri: str | None = None
) -> ResolvedModel:
    """Write the model ``source`` names into ``output_dir`` (replacing what is there), check
    that it is a usable model folder, and return it with its lineage."""
    parsed = parse_model_source(source)
    output_dir = Path(output_dir)
    lineage = {"source": source, **_fetch(parsed, output_dir, registry_store(registry_uri))}
    check_model_dir(output_dir)  # a folder without weights / config / tokenizer fails here
    (output_dir / SOURCE_FILE).write_text(json.dumps(lineage, indent=2))
    return ResolvedModel(output_dir, lineage)


def local_model(source: str, cache_dir: Path, *, registry_uri: str | None = None) -> Path:
    """A folder holding the model ``source`` names: a local folder as is (read, not copied),
    anything else fetched once into ``cache_dir`` (reused while its lineage file is there)."""
    parsed = parse_model_source(source)
    if parsed.is_local:
        path = Path(parsed.path)
        check_model_dir(path)
        return path
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    target = Path(cache_dir) / key
    if (target / SOURCE_FILE).is_file() and parsed.kind != "registry":  # aliases move
        return target
    return resolve_base_model(source, target, registry_uri=registry_uri).path


def _fetch(source: ModelSource, output_dir: Path, registry_uri: str) -> dict[str, Any]:
    if source.kind == "tiny":
        # The random model plus a short pretraining, cached by seed (vlaa/modeling/tiny_base.py).
        summary = write_tiny_base(fresh_folder(output_dir), source.seed)
        digest = folder_digest(hash_folder(output_dir))
        pretraining = {k: summary[k] for k in ("settings", "cache_key", "loss_last")}
        return {"kind": "tiny", "seed": source.seed, "pretraining": pretraining, "sha256": digest}
    if source.kind == "folder":
        return _copy_folder(Path(source.path), output_dir)
    if source.kind == "hf":
        from vlaa.modeling.sources.hf import fetch_hf

        return fetch_hf(source, output_dir)
    if source.kind == "s3":
        from vlaa.modeling.sources.s3 import fetch_s3

        return fetch_s3(source, output_dir)
    from vlaa.modeling.sources.registry import fetch_registry

    return fetch_registry(source, output_dir, registry_uri)


def _copy_folder(folder: Path, output_dir: Path) -> dict[str, Any]:
    check_model_dir(folder)  # before the output is touched: name what the folder lacks
    if folder.resolve() == output_dir.resolve():
        raise ModelSourceError(f"model folder {folder} is the output folder itself")
    fresh_folder(output_dir)
    sha256_by_path = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != SOURCE_FILE:
            relative = path.relative_to(folder).as_posix()
            sha256_by_path[relative] = copy_hashed(path, output_dir / relative).sha256
    digest = folder_digest(sha256_by_path)
    return {"kind": "folder", "path": str(folder.resolve()), "sha256": digest}
