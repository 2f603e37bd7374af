"""A narrow, key-based object store used for publishing models.

Keys are "/"-separated relative names (``model/versions/v0001/manifest.json``), the common
ground of a folder and an S3 bucket. A store only promises that one ``put`` is atomic: a
reader sees the old object, the new one, or none, never a partial one. Anything built on top
(versions, manifests, aliases) lives in the publish step, so another backend only has to
implement the five methods of :class:`ObjectStore`. ``s3://bucket/prefix`` URIs open an
:class:`vlaa.storage_s3.S3Store` (MinIO or any S3 endpoint, through the ``minio`` client).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

# Temporary files of in-flight writes start with this; listings never show them.
TEMP_PREFIX = ".tmp-"

SUPPORTED_SCHEMES = ("local path", "file://", "s3://")


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


class LocalStore:
    """An :class:`ObjectStore` on a local folder: key ``a/b`` is the file ``root/a/b``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def put_file(self, key: str, local_path: Path, sha256: str | None = None) -> None:
        # A local copy needs no checksum metadata: sha256() reads the file when asked.
        with Path(local_path).open("rb") as source:
            self._write_atomically(key, lambda target: shutil.copyfileobj(source, target))

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write_atomically(key, lambda target: target.write(data))

    def sha256(self, key: str) -> str | None:
        """SHA-256 (hex) of the object, or ``None`` if there is none (optional store method)."""
        path = self._path(key)
        if not path.is_file():
            return None
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise ObjectNotFoundError(f"no object {key!r} in {self!r}") from error

    def get_file(self, key: str, local_path: Path) -> None:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"no object {key!r} in {self!r}")
        shutil.copyfile(path, local_path)

    def list(self, prefix: str = "") -> list[str]:
        # Walk only the deepest folder the prefix fully names, not the whole store.
        folder = prefix.rpartition("/")[0]
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        if not start.is_dir():
            return []
        keys = []
        for directory, subdirs, files in os.walk(start):
            subdirs[:] = [name for name in subdirs if not name.startswith(TEMP_PREFIX)]
            relative = Path(directory).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def _write_atomically(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        """Write into a temporary file beside the target, fsync it, then ``os.replace`` it."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as target:
                write(target)
                target.flush()
                os.fsync(target.fileno())
            os.chmod(temp_name, 0o644)  # mkstemp creates 0600; published files are shared
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise


def open_store(uri: str) -> ObjectStore:
    """The store a URI names: a local path, a ``file://`` URI or ``s3://bucket/prefix``.

    S3 endpoints and credentials come only from the environment (see
    :func:`vlaa.storage_s3.S3Settings.from_env`), never from the URI.
    """
    if not uri:
        raise ValueError("store URI is empty; give a local folder path, a file:// or s3:// URI")
    parts = urlsplit(uri)
    # A one-letter "scheme" is a Windows drive letter, i.e. a local path.
    if parts.scheme == "" or len(parts.scheme) == 1:
        return LocalStore(Path(uri).expanduser())
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file:// URI {uri!r} names a remote host; only local files work")
        return LocalStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        from vlaa.storage_s3 import S3Store

        return S3Store.from_uri(uri)
    supported = ", ".join(SUPPORTED_SCHEMES)
    raise ValueError(
        f"unsupported store URI scheme {parts.scheme!r} in {uri!r}; supported: {supported}"
    )
