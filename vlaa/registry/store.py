"""The store operations of a publish: plan, upload, resume, manifest last, verify.

A version is complete (and listed) only once its manifest exists, so a crash mid-upload leaves
an invisible folder. Nothing is uploaded into a version before this publish owns its claim
(``vlaa.registry.claims``): a retry of the same publish resumes its own claim and uploads only
the files still missing (the result is byte-for-byte what an uninterrupted publish writes); a
different publish never touches it. The manifest is created with a conditional write, so a
complete version is never overwritten. Files are read only from inside the model folder: a
symbolic link that leaves it is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vlaa.registry.claims import check_owner
from vlaa.registry.errors import ModelFolderError, PublishError, VersionExistsError
from vlaa.registry.layout import (
    MANIFEST,
    MANIFEST_FORMAT,
    MODEL_CARD,
    version_prefix,
)
from vlaa.storage import ConditionalStore, ObjectNotFoundError, ObjectStore, file_sha256

WEIGHTS_GLOB = "*.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Trainer output folders hold resumable checkpoints (optimizer states) beside the final model;
# they are not part of the published model.
SKIPPED_TOP_LEVEL_DIRS = re.compile(r"checkpoint-\d+|runs|\..*")


# ----------------------------------------------------------------------------- model folder


def check_model_dir(model_dir: Path) -> None:
    """Refuse a folder without weights or without a tokenizer / processor."""
    if not model_dir.is_dir():
        raise ModelFolderError(f"model folder {model_dir} does not exist or is not a folder")
    missing = []
    if not any(model_dir.glob(WEIGHTS_GLOB)):
        missing.append(f"weights ({WEIGHTS_GLOB})")
    if not any((model_dir / name).is_file() for name in TOKENIZER_FILES):
        missing.append(f"tokenizer / processor ({' or '.join(TOKENIZER_FILES)})")
    if missing:
        raise ModelFolderError(
            f"model folder {model_dir} cannot be published: missing " + ", ".join(missing)
        )


def model_files(model_dir: Path) -> Iterator[tuple[str, Path]]:
    """(relative key, path) of every file to upload, in a stable order.

    The generated card and manifest replace any ``README.md`` / ``manifest.json`` the
    trainer left; checkpoints, TensorBoard runs and hidden folders are not part of a model.
    The path given for a symbolic link is its target, checked to lie inside the folder.
    """
    root = model_dir.resolve()
    # Python 3.11's rglob lists a link to a folder but never descends into it.
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if len(relative.parts) > 1 and SKIPPED_TOP_LEVEL_DIRS.fullmatch(relative.parts[0]):
            continue
        if path.is_symlink():
            path = _link_target(model_dir, root, relative, path)
        if not path.is_file() or relative.as_posix() in (MODEL_CARD, MANIFEST):
            continue
        yield relative.as_posix(), path


def _link_target(model_dir: Path, root: Path, relative: Path, link: Path) -> Path:
    """The resolved target of a link to a file inside the model folder; refuses any other."""
    target = link.resolve()
    where = f"{relative.as_posix()} in model folder {model_dir}"
    if not target.is_relative_to(root):
        raise ModelFolderError(
            f"{where} is a symbolic link to {target}, outside the folder; refusing to publish "
            "it (copy the file in, e.g. with `cp -L`, if it belongs to the model)"
        )
    if target.is_dir():
        raise ModelFolderError(f"{where} is a symbolic link to a folder; links are not followed")
    if not target.is_file():
        raise ModelFolderError(f"{where} is a symbolic link to {target}, which is not a file")
    return target


# ----------------------------------------------------------------------------- upload


class PlannedFile(BaseModel):
    """One file of the model folder to upload, with its checksum."""

    path: str
    local: Path
    size: int
    sha256: str


def plan_files(model_dir: Path) -> list[PlannedFile]:
    """Every file to upload with its size and SHA-256 (one read of each file)."""
    planned = []
    for relative, path in model_files(model_dir):
        sha256, size = file_sha256(path)
        planned.append(PlannedFile(path=relative, local=path, size=size, sha256=sha256))
    return planned


def stored_sha256(store: ObjectStore, key: str) -> str | None:
    """An object's SHA-256: from the store if it can tell (metadata), else by reading it."""
    method = getattr(store, "sha256", None)
    if callable(method):
        return method(key)
    try:
        return hashlib.sha256(store.get_bytes(key)).hexdigest()
    except ObjectNotFoundError:
        return None


def write_version(
    store: ConditionalStore,
    model_name: str,
    version: str,
    card: str,
    record: dict[str, Any],
    planned: list[PlannedFile],
    *,
    owner: str,
    extra_files: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """Upload the planned files, card and extra files, then the manifest; return the manifest.

    Only into a version this publish owns (``owner`` is in its claim); a complete version is
    refused. Files already there from an interrupted run of this publish are not uploaded
    again when their SHA-256 matches.
    """
    prefix = version_prefix(model_name, version)
    if store.exists(prefix + MANIFEST):
        raise VersionExistsError(f"{model_name} {version} already exists; versions are immutable")
    check_owner(store, model_name, version, owner)
    present = set(store.list(prefix))
    entries = []
    for entry in planned:
        key = prefix + entry.path
        if key not in present or stored_sha256(store, key) != entry.sha256:
            store.put_file(key, entry.local, sha256=entry.sha256)
        entries.append({"path": entry.path, "size": entry.size, "sha256": entry.sha256})
    generated = {**(extra_files or {}), MODEL_CARD: card.encode("utf-8")}
    for relative, data in sorted(generated.items()):
        store.put_bytes(prefix + relative, data)
        entries.append(
            {"path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
    manifest = {
        "format": MANIFEST_FORMAT,
        "model_name": model_name,
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "owner": owner,
        "files": entries,
        **record,
    }
    if store.put_bytes_if_absent(prefix + MANIFEST, json.dumps(manifest, indent=2).encode()):
        return manifest
    # Completed meanwhile: by a run of this same publish (same owner, same bytes), or not.
    existing = json.loads(store.get_bytes(prefix + MANIFEST))
    if existing.get("owner") == owner:
        return existing
    raise VersionExistsError(f"{model_name} {version} was completed by another publisher")


def verify_version(store: ObjectStore, model_name: str, version: str) -> dict[str, Any]:
    """Re-read a version and check every file against its manifest; return the manifest."""
    prefix = version_prefix(model_name, version)
    try:
        manifest = json.loads(store.get_bytes(prefix + MANIFEST))
    except ObjectNotFoundError as error:
        raise PublishError(f"{model_name} {version} is not a complete version") from error
    for entry in manifest["files"]:
        data = store.get_bytes(prefix + entry["path"])
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise PublishError(f"{model_name} {version}: {entry['path']} fails its checksum")
    return manifest
