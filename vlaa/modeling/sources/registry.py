"""``registry://NAME@VERSION|ALIAS``: a version this project published (``vlaa.registry``).

So scheduled retraining can start from what is in production: ``registry://my-model@production``
follows the alias record (``<name>/aliases/<alias>.json``) to a version; ``@v0003`` names one.
Only complete versions are read (their ``manifest.json`` is written last, vlaa.registry.store).

Checked: every model file's size and SHA-256 against the version's manifest, as it is
downloaded (streamed by the store: ``get_file``); the generated card, KServe manifest and
manifest itself are not part of the model and are not copied.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vlaa.modeling.sources.errors import (
    ChecksumMismatchError,
    CredentialsRefusedError,
    ModelNotFoundError,
    ModelSourceError,
)
from vlaa.modeling.sources.files import folder_digest, fresh_folder, hash_file
from vlaa.modeling.sources.uri import ModelSource, is_version
from vlaa.registry.errors import PublishError
from vlaa.registry.layout import (
    GENERATED_FILES,
    MANIFEST,
    list_versions,
    resolve_alias,
    version_prefix,
)
from vlaa.storage import InvalidKeyError, ObjectNotFoundError, ObjectStore, check_key, open_store

# What of the published version's own lineage is carried on (its whole lineage would nest
# one level deeper with every retraining).
PARENT_LINEAGE_KEYS = ("pipeline_run_id", "code_version", "dataset_hash", "arm", "base_model")


def fetch_registry(source: ModelSource, output_dir: Path, store_uri: str) -> dict[str, Any]:
    """Copy the named version's model files into ``output_dir``, checked; the lineage."""
    from vlaa.storage.s3 import S3CredentialsError

    try:
        store = open_store(store_uri)
    except ValueError as error:  # a bad store URI, or no S3 endpoint / keys in the environment
        raise ModelSourceError(f"{source.text}: registry store {store_uri!r}: {error}") from None
    try:
        version = _version(source, store, store_uri)
        prefix = version_prefix(source.name, version)
        raw = store.get_bytes(prefix + MANIFEST)
        manifest = json.loads(raw)
        sha256_by_path = _copy_files(source, store, prefix, manifest, output_dir)
    except S3CredentialsError as error:
        raise CredentialsRefusedError(f"{source.text}: {error}") from None
    except ObjectNotFoundError:
        raise ModelNotFoundError(
            f"{source.text}: {source.name} {version} is not a complete version in {store_uri}"
        ) from None
    parent = manifest.get("lineage") or {}
    lineage = {
        "kind": "registry",
        "store": store_uri,
        "model_name": source.name,
        "version": version,
        "manifest_sha256": hashlib.sha256(raw).hexdigest(),
        "files": len(sha256_by_path),
        "sha256": folder_digest(sha256_by_path),
    }
    if not is_version(source.ref):
        lineage["alias"] = source.ref
    if carried := {key: parent[key] for key in PARENT_LINEAGE_KEYS if key in parent}:
        lineage["published_lineage"] = carried
    return lineage


def _version(source: ModelSource, store: ObjectStore, store_uri: str) -> str:
    if is_version(source.ref):
        return source.ref
    try:
        version = resolve_alias(store, source.name, source.ref)
    except PublishError as error:  # the alias points at an incomplete version
        raise ModelNotFoundError(f"{source.text}: {error}") from None
    if version is None:
        known = ", ".join(list_versions(store, source.name)) or "none"
        raise ModelNotFoundError(
            f"{source.text}: no alias {source.ref!r} for {source.name!r} in {store_uri} "
            f"(complete versions: {known})"
        )
    return version


def _copy_files(
    source: ModelSource, store: ObjectStore, prefix: str, manifest: dict, output_dir: Path
) -> dict[str, str]:
    fresh_folder(output_dir)
    sha256_by_path = {}
    for entry in manifest["files"]:
        relative = entry["path"]
        if relative in GENERATED_FILES:
            continue
        try:
            check_key(relative)  # the manifest's paths become local paths
        except InvalidKeyError as error:
            raise ModelSourceError(f"{source.text}: manifest entry {error}") from None
        target = output_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        store.get_file(prefix + relative, target)
        digests = hash_file(target)
        if (digests.size, digests.sha256) != (entry["size"], entry["sha256"]):
            raise ChecksumMismatchError(
                f"{source.text}: {relative} fails its manifest checksum (size {digests.size} vs "
                f"{entry['size']}, sha256 {digests.sha256} vs {entry['sha256']})"
            )
        sha256_by_path[relative] = digests.sha256
    return sha256_by_path
