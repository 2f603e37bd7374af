"""What every store shares: the :class:`ObjectStore` interface, its errors and key/checksum rules.

Keys are "/"-separated relative names (``model/versions/v0001/manifest.json``), the common
ground of a folder and an S3 bucket. A store only promises that one ``put`` is atomic: a
reader sees the old object, the new one, or none, never a partial one. Writers that race
(concurrent publishes) use the conditional writes of :class:`ConditionalStore` instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol, runtime_checkable

# Temporary files of in-flight writes start with this; listings never show them.
TEMP_PREFIX = ".tmp-"


class ObjectNotFoundError(LookupError):
    """Raised by ``get_bytes`` for a key that holds no object."""


class StoreError(RuntimeError):
    """The store itself failed (unreachable, credentials refused, no bucket); says why."""


class InvalidKeyError(ValueError):
    """A key that is not a safe relative "/"-separated name."""


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in 1 MiB chunks (model shards are GBs)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative "/"-separated name, else raise."""
    if not key or key.startswith("/") or key.endswith("/"):
        raise InvalidKeyError(f"invalid object key {key!r}: must be relative and name an object")
    if "\\" in key:
        raise InvalidKeyError(f"invalid object key {key!r}: use '/' as the separator")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise InvalidKeyError(f"invalid object key {key!r}: empty, '.' or '..' segment")
        if part.startswith(TEMP_PREFIX):
            raise InvalidKeyError(f"invalid object key {key!r}: {TEMP_PREFIX!r} is reserved")
    return key


@runtime_checkable
class ObjectStore(Protocol):
    """What publishing needs from a store; every ``put`` replaces the object atomically."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def put_file(self, key: str, local_path: Path, sha256: str | None = None) -> None:
        """Upload the file at ``local_path`` as ``key``; ``sha256``, when the caller already
        hashed the file, saves a store that records checksums a second read of it."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` as ``key``."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The object's content; :class:`ObjectNotFoundError` if there is none."""
        ...

    def get_file(self, key: str, local_path: Path) -> None:
        """Write the object to ``local_path``, streamed (model shards are gigabytes)."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys that start with ``prefix`` (a plain string prefix, as in S3)."""
        ...


@runtime_checkable
class ConditionalStore(ObjectStore, Protocol):
    """Compare-and-swap on single objects, atomic even against other processes and hosts.

    ``tag`` is an opaque token of one object state (the ETag on S3, a content hash in a folder):
    a conditional put succeeds only if the object is still in the state read.
    """

    def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` with ``data`` unless an object exists there; False if one did."""
        ...

    def get_bytes_tagged(self, key: str) -> tuple[bytes, str]:
        """The object's content and tag; :class:`ObjectNotFoundError` if there is none."""
        ...

    def put_bytes_if_tag(self, key: str, data: bytes, tag: str) -> bool:
        """Replace ``key`` only if it is still in state ``tag``; False if it changed or is gone."""
        ...
