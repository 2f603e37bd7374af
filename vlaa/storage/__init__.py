"""A narrow, key-based object store used for publishing models and staging worker files.

This package owns where objects live and how one is written atomically, nothing above that:
versions, manifests and aliases belong to the publish step, so another backend only has to
implement the methods of :class:`ObjectStore` (:mod:`vlaa.storage.base`, with its errors and
key / checksum rules). :func:`open_store` picks the implementation a URI names: a local path or
``file://`` URI opens a :class:`LocalStore` (:mod:`vlaa.storage.folder`), ``s3://bucket/prefix``
an :class:`vlaa.storage.s3.S3Store` (MinIO or any S3 endpoint, through the ``minio`` client).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from vlaa.storage.base import (
    TEMP_PREFIX,
    ConditionalStore,
    InvalidKeyError,
    ObjectNotFoundError,
    ObjectStore,
    StoreError,
    check_key,
    file_sha256,
)
from vlaa.storage.folder import LocalStore

__all__ = [
    "SUPPORTED_SCHEMES",
    "TEMP_PREFIX",
    "ConditionalStore",
    "InvalidKeyError",
    "LocalStore",
    "ObjectNotFoundError",
    "ObjectStore",
    "StoreError",
    "check_key",
    "file_sha256",
    "object_store_uri",
    "open_store",
]

SUPPORTED_SCHEMES = ("local path", "file://", "s3://")


def open_store(uri: str) -> ObjectStore:
    """The store a URI names: a local path, a ``file://`` URI or ``s3://bucket/prefix``.

    S3 endpoints and credentials come only from the environment (see
    :func:`vlaa.storage.s3.S3Settings.from_env`), never from the URI.
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
        # Imported here: minio + urllib3 cost ~0.15 s per process, and most users of a
        # folder store (local runs, tests) never touch S3.
        from vlaa.storage.s3 import S3Store

        return S3Store.from_uri(uri)
    supported = ", ".join(SUPPORTED_SCHEMES)
    raise ValueError(
        f"unsupported store URI scheme {parts.scheme!r} in {uri!r}; supported: {supported}"
    )


def object_store_uri(uri: str | None) -> str | None:
    """The s3:// form of a KFP artifact URI in an object store, else None.

    KFP writes MinIO artifacts as ``minio://bucket/key``; the S3 API names them ``s3://``.
    """
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme in ("s3", "minio") and parts.netloc:
        return f"s3://{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    return None
