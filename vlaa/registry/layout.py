"""Where a version lives in the store, how versions are numbered, listed and aliased.

Layout in the store, under the model's name::

    <model_name>/versions/v0001/...            every file of the model folder
    <model_name>/versions/v0001/README.md      Hugging Face model card (generated)
    <model_name>/versions/v0001/inference_service.yaml  KServe manifest (serving: kserve-vllm)
    <model_name>/versions/v0001/manifest.json  written LAST: files, sizes, sha256, lineage
    <model_name>/aliases/latest.json           {"version": "v0001", ...}; only when promoted
    <model_name>/claims/v0001.json             who owns v0001: created once, never replaced

The store is a local folder or ``s3://bucket/prefix`` (``vlaa.storage``). A version is
complete (and listed) only once its manifest exists (``vlaa.registry.store`` writes it last).
A number is taken by a claim, created with a conditional write before anything is uploaded
(``vlaa.registry.claims``); aliases only move forward (``vlaa.registry.aliases``).
"""

from __future__ import annotations

import json
import re

from vlaa.registry.errors import PublishError
from vlaa.storage import ObjectNotFoundError, ObjectStore

VERSION_RE = re.compile(r"v(\d{4,})")
MANIFEST = "manifest.json"
MODEL_CARD = "README.md"
INFERENCE_SERVICE = "inference_service.yaml"
GENERATED_FILES = (MODEL_CARD, INFERENCE_SERVICE, MANIFEST)
MANIFEST_FORMAT = 1


def version_name(number: int) -> str:
    return f"v{number:04d}"


def versions_prefix(model_name: str) -> str:
    return f"{model_name}/versions/"


def version_prefix(model_name: str, version: str) -> str:
    return f"{versions_prefix(model_name)}{version}/"


def alias_key(model_name: str, alias: str) -> str:
    return f"{model_name}/aliases/{alias}.json"


def claims_prefix(model_name: str) -> str:
    return f"{model_name}/claims/"


def claim_key(model_name: str, version: str) -> str:
    return f"{claims_prefix(model_name)}{version}.json"


def version_number(version: str) -> int:
    """``v0012`` -> 12; a name that is no version number is a clear error."""
    match = VERSION_RE.fullmatch(version)
    if match is None:
        raise PublishError(f"{version!r} is not a version name (v0001, v0002, ...)")
    return int(match[1])


def claimed_versions(store: ObjectStore, model_name: str) -> list[str]:
    """Versions that have a claim, oldest first."""
    prefix = claims_prefix(model_name)
    names = [key[len(prefix) :].removesuffix(".json") for key in store.list(prefix)]
    return sorted((n for n in names if VERSION_RE.fullmatch(n)), key=version_number)


def _version_folders(store: ObjectStore, model_name: str) -> dict[str, set[str]]:
    """Version folder name -> the keys under it, relative to the folder."""
    prefix = versions_prefix(model_name)
    folders: dict[str, set[str]] = {}
    for key in store.list(prefix):
        version, _, rest = key[len(prefix) :].partition("/")
        if VERSION_RE.fullmatch(version) and rest:
            folders.setdefault(version, set()).add(rest)
    return folders


def list_versions(store: ObjectStore, model_name: str) -> list[str]:
    """Complete versions (those with a manifest), oldest first."""
    folders = _version_folders(store, model_name)
    complete = [version for version, keys in folders.items() if MANIFEST in keys]
    return sorted(complete, key=lambda version: int(version[1:]))


def incomplete_versions(store: ObjectStore, model_name: str) -> list[str]:
    """Claimed or started versions without a manifest, oldest first."""
    folders = _version_folders(store, model_name)
    started = {v for v, keys in folders.items() if MANIFEST not in keys}
    started |= {v for v in claimed_versions(store, model_name) if v not in folders}
    return sorted(started, key=version_number)


def next_version(store: ObjectStore, model_name: str) -> str:
    """The number after the highest one present, counting claims and incomplete versions."""
    seen = [*_version_folders(store, model_name), *claimed_versions(store, model_name)]
    return version_name(max((version_number(v) for v in seen), default=0) + 1)


def resolve_alias(store: ObjectStore, model_name: str, alias: str) -> str | None:
    """The version an alias points at, or ``None`` if the alias was never written."""
    try:
        record = json.loads(store.get_bytes(alias_key(model_name, alias)))
    except ObjectNotFoundError:
        return None
    version = record["version"]
    if not store.exists(version_prefix(model_name, version) + MANIFEST):
        raise PublishError(f"alias {alias!r} of {model_name!r} points at incomplete {version}")
    return version


def join_uri(store_uri: str, key: str) -> str:
    return f"{store_uri.rstrip('/')}/{key.rstrip('/')}"
