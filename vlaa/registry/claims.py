"""Who owns a version number: a claim object, created with a conditional write, never replaced.

Two publishers that pick the same next number race on ``<model>/claims/vNNNN.json``; the store
creates it for exactly one (``If-None-Match: *`` on S3 / MinIO, a hard link in a folder), the
other moves on to the next number. Only the owner named in the claim writes into the version.

The owner token is a hash of the publish itself (every file's path and SHA-256, the lineage,
metrics, card and settings), not a random number, so a retry of the same publish after a crash
(a KFP retry runs in a new pod and remembers nothing) recognises its own claim and resumes it,
while a publish of anything else can never write into it. Two runs of exactly the same publish
share the token: they write byte-identical files, and the manifest's own conditional create
lets one finish (the other returns that version).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from vlaa.registry.errors import PublishError, VersionExistsError
from vlaa.registry.layout import (
    MANIFEST,
    claim_key,
    incomplete_versions,
    next_version,
    version_name,
    version_number,
    version_prefix,
)
from vlaa.storage import ConditionalStore, ObjectNotFoundError

CLAIM_FORMAT = 1
# Each refused claim means another publisher took that number; this many at once is a bug.
MAX_CLAIM_TRIES = 100


def publish_owner(files: Iterable[tuple[str, str]], inputs: Mapping[str, Any]) -> str:
    """The owner token of a publish: SHA-256 over its (path, sha256) files and its inputs."""
    digest = hashlib.sha256()
    for path, sha256 in sorted(files):
        digest.update(f"{path}\0{sha256}\n".encode())
    digest.update(json.dumps(inputs, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def claim_owner(store: ConditionalStore, model_name: str, version: str) -> str | None:
    """The owner token recorded in a version's claim, or None if it has none."""
    try:
        record = json.loads(store.get_bytes(claim_key(model_name, version)))
    except ObjectNotFoundError:
        return None
    except ValueError as error:
        raise PublishError(f"the claim of {model_name} {version} is not valid JSON") from error
    owner = record.get("owner") if isinstance(record, dict) else None
    return str(owner) if owner else None


def claim_version(store: ConditionalStore, model_name: str, owner: str) -> tuple[str, bool]:
    """(version, resumed): this publish's own unfinished claim, else a newly claimed number."""
    for version in reversed(incomplete_versions(store, model_name)):
        if claim_owner(store, model_name, version) == owner:
            return version, True
    number = version_number(next_version(store, model_name))
    for _ in range(MAX_CLAIM_TRIES):
        version = version_name(number)
        claim = _claim(model_name, version, owner)
        if store.put_bytes_if_absent(claim_key(model_name, version), claim):
            return version, False
        # Refused: someone else's claim, or our own whose first answer was lost in a retry.
        if claim_owner(store, model_name, version) == owner and not store.exists(
            version_prefix(model_name, version) + MANIFEST
        ):
            return version, False
        number += 1
    raise PublishError(
        f"could not claim a version of {model_name} in {MAX_CLAIM_TRIES} tries: every number "
        "was taken by another publisher meanwhile"
    )


def check_owner(store: ConditionalStore, model_name: str, version: str, owner: str) -> None:
    """Refuse to write into a version this publish does not own."""
    recorded = claim_owner(store, model_name, version)
    if recorded is None:
        raise VersionExistsError(
            f"{model_name} {version} is not claimed; claim a version before uploading into it"
        )
    if recorded != owner:
        raise VersionExistsError(
            f"{model_name} {version} is claimed by another publisher (owner {recorded[:12]}); "
            "versions are never shared"
        )


def _claim(model_name: str, version: str, owner: str) -> bytes:
    record = {
        "format": CLAIM_FORMAT,
        "model_name": model_name,
        "version": version,
        "owner": owner,
        "claimed": datetime.now(UTC).isoformat(timespec="seconds"),
        # For people reading the store; nothing decides on them.
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    return json.dumps(record, indent=2).encode("utf-8")
