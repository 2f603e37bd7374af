"""The store operations of a publish: plan, upload, resume, manifest last, alias, verify.

A version is complete (and listed) only once its manifest exists, so a crash mid-upload leaves
an invisible folder. A retry of the same publish resumes that folder: when the highest version
folder has no manifest and every object in it is a file of this publish with the same SHA-256,
the number is reused and only the missing files are uploaded (the result is byte-for-byte what
an uninterrupted publish writes). Leftovers that differ from this publish are never mixed with
it: numbering then continues after them, and the gap shows that something failed. A complete
version is never overwritten.
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

from vlaa.registry.errors import ModelFolderError, PublishError, VersionExistsError
from vlaa.registry.layout import (
    GENERATED_FILES,
    MANIFEST,
    MANIFEST_FORMAT,
    MODEL_CARD,
    alias_key,
    next_version,
    version_name,
    version_prefix,
)
from vlaa.storage import ObjectNotFoundError, ObjectStore, file_sha256

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
    """
    for path in sorted(model_dir.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(model_dir)
        if len(relative.parts) > 1 and SKIPPED_TOP_LEVEL_DIRS.fullmatch(relative.parts[0]):
            continue
        if relative.as_posix() in (MODEL_CARD, MANIFEST):
            continue
        yield relative.as_posix(), path


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


def leftovers_match(
    store: ObjectStore, model_name: str, version: str, planned: list[PlannedFile]
) -> bool:
    """Whether an incomplete version holds only files of this publish, byte-identical.

    Generated files (card, KServe manifest) are rewritten, so they need not match.
    """
    prefix = version_prefix(model_name, version)
    wanted = {entry.path: entry.sha256 for entry in planned}
    for key in store.list(prefix):
        relative = key[len(prefix) :]
        if relative == MANIFEST:
            return False
        if relative in GENERATED_FILES:
            continue
        if relative not in wanted or stored_sha256(store, key) != wanted[relative]:
            return False
    return True


def write_version(
    store: ObjectStore,
    model_name: str,
    version: str,
    model_dir: Path,
    card: str,
    record: dict[str, Any],
    *,
    resume: bool = False,
    extra_files: dict[str, bytes] | None = None,
    planned: list[PlannedFile] | None = None,
) -> dict[str, Any]:
    """Upload the model's files, card and extra files, then the manifest; return the manifest.

    Refuses a complete version (never overwritten). An incomplete one is refused too unless
    ``resume`` is set and it holds only byte-identical files of this publish; those are not
    uploaded again.
    """
    prefix = version_prefix(model_name, version)
    if store.exists(prefix + MANIFEST):
        raise VersionExistsError(f"{model_name} {version} already exists; versions are immutable")
    planned = plan_files(model_dir) if planned is None else planned
    present = set(store.list(prefix))
    if present and not resume:
        raise VersionExistsError(
            f"{model_name} {version} holds files from an interrupted upload; publish a new version"
        )
    if present and not leftovers_match(store, model_name, version, planned):
        raise VersionExistsError(
            f"{model_name} {version} holds files of a different upload; publish a new version"
        )
    entries = []
    for entry in planned:
        if prefix + entry.path not in present:  # present ones were checked byte-identical
            store.put_file(prefix + entry.path, entry.local, sha256=entry.sha256)
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
        "files": entries,
        **record,
    }
    if store.exists(prefix + MANIFEST):  # another publisher completed this number meanwhile
        raise VersionExistsError(f"{model_name} {version} was completed by another publisher")
    store.put_bytes(prefix + MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
    return manifest


def write_alias(store: ObjectStore, model_name: str, alias: str, version: str, uri: str) -> None:
    """Point ``alias`` at ``version`` (one atomic put)."""
    record = {
        "model_name": model_name,
        "alias": alias,
        "version": version,
        "uri": uri,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.put_bytes(alias_key(model_name, alias), json.dumps(record, indent=2).encode("utf-8"))


def choose_version(
    store: ObjectStore, model_name: str, planned: list[PlannedFile]
) -> tuple[str, bool]:
    """(version, resume): the interrupted highest version if this publish can resume it,
    else the next number."""
    candidate = next_version(store, model_name)
    number = int(candidate[1:]) - 1
    if number >= 1:
        previous = version_name(number)
        prefix = version_prefix(model_name, previous)
        present = store.list(prefix)
        if (
            present
            and prefix + MANIFEST not in present
            and leftovers_match(store, model_name, previous, planned)
        ):
            return previous, True
    return candidate, False


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
