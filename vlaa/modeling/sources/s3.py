"""``s3://BUCKET/PREFIX``: every object under the prefix, through the project's S3 store.

Endpoint and keys come from the environment (``vlaa.storage.s3.S3Settings.from_env``: the
``vlaa-s3-credentials`` Secret and ``vlaa-runtime-env`` ConfigMap in the cluster). Each object
is streamed to disk (minio's ``fget_object``), then hashed once and checked, in this order:

1. ``x-amz-meta-sha256`` (written by ``vlaa.storage``, e.g. ``vlaa publish`` or the TrainJob
   staging) must equal the file's SHA-256;
2. otherwise the size must match and a single-part ETag must equal the file's MD5 (S3 and
   MinIO set it so for unencrypted and SSE-S3 objects; SSE-KMS / SSE-C objects need 1.);
3. a multipart ETag (``<md5 of the part MD5s>-<parts>``) is recomputed for the usual part sizes
   that give that many parts (aws-cli/boto3 8 MiB, mc 16 MiB, ours ``VLAA_S3_PART_SIZE_MB``);
   when none fits the file is counted as unverified (logged and recorded in the lineage).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

from vlaa.modeling.sources.errors import (
    ChecksumMismatchError,
    CredentialsRefusedError,
    ModelNotFoundError,
    ModelSourceError,
)
from vlaa.modeling.sources.files import (
    FileDigests,
    folder_digest,
    fresh_folder,
    hash_file,
    multipart_md5,
)
from vlaa.modeling.sources.uri import ModelSource
from vlaa.registry.store import SKIPPED_TOP_LEVEL_DIRS
from vlaa.storage import InvalidKeyError, check_key

log = logging.getLogger(__name__)

MIB = 1 << 20
COMMON_PART_SIZES_MIB = (5, 8, 10, 15, 16, 25, 32, 50, 64, 100, 128, 256, 512)


def fetch_s3(source: ModelSource, output_dir: Path) -> dict[str, Any]:
    """Download every object under the prefix into ``output_dir``, checked; the lineage."""
    from vlaa.storage.s3 import S3BucketError, S3ConfigError, S3CredentialsError, S3Store

    uri = f"s3://{source.bucket}/{source.prefix}".rstrip("/")
    try:
        store = S3Store.from_uri(uri)
        keys = [key for key in store.list("") if not _skipped(key)]
        if not keys:
            raise ModelNotFoundError(f"{source.text}: no objects under this prefix")
        fresh_folder(output_dir)
        checks: Counter[str] = Counter()
        sha256_by_key: dict[str, str] = {}
        for key in keys:
            _safe(source, key)
            info = store.stat(key)
            target = output_dir / key
            target.parent.mkdir(parents=True, exist_ok=True)
            store.get_file(key, target)
            digests = hash_file(target, md5=not info.sha256)
            checks[_verify(source, key, info, digests, target, store.settings.part_size)] += 1
            sha256_by_key[key] = digests.sha256
    except S3CredentialsError as error:
        raise CredentialsRefusedError(f"{source.text}: {error}") from None
    except S3ConfigError as error:
        raise ModelSourceError(f"{source.text}: {error}") from None
    except S3BucketError as error:
        raise ModelNotFoundError(f"{source.text}: {error}") from None
    return {
        "kind": "s3",
        "uri": uri,
        "endpoint": store.settings.endpoint,
        "files": len(sha256_by_key),
        "checks": dict(sorted(checks.items())),
        "sha256": folder_digest(sha256_by_key),
    }


def _skipped(key: str) -> bool:
    """Trainer checkpoints, TensorBoard runs and hidden folders are not part of a model."""
    top, _, rest = key.partition("/")
    return bool(rest) and SKIPPED_TOP_LEVEL_DIRS.fullmatch(top) is not None


def _safe(source: ModelSource, key: str) -> None:
    try:
        check_key(key)  # no '..', no absolute names: the key becomes a local path
    except InvalidKeyError as error:
        raise ModelSourceError(f"{source.text}: {error}") from None


def _verify(
    source: ModelSource, key: str, info: Any, digests: FileDigests, path: Path, our_part: int
) -> str:
    """Which check passed: 'sha256', 'etag-md5', 'etag-multipart' or 'unverified'."""

    def mismatch(what: str, want: str, got: str) -> ChecksumMismatchError:
        return ChecksumMismatchError(
            f"{source.text}: {key} fails its checksum ({what}: stored {want}, downloaded {got})"
        )

    if info.sha256:
        if digests.sha256 != info.sha256:
            raise mismatch("x-amz-meta-sha256", info.sha256, digests.sha256)
        return "sha256"
    if digests.size != info.size:
        raise mismatch("size", str(info.size), str(digests.size))
    etag, _, parts = info.etag.partition("-")
    if not parts:
        if digests.md5 != etag:
            raise mismatch("ETag, the MD5 of a single-part upload", etag, digests.md5)
        return "etag-md5"
    count = int(parts) if parts.isdigit() else 0
    for part_size in sorted({our_part, *(size * MIB for size in COMMON_PART_SIZES_MIB)}):
        fits = count and math.ceil(digests.size / part_size) == count
        if fits and multipart_md5(path, part_size) == etag:
            return "etag-multipart"
    log.warning("%s: %s has a multipart ETag of unknown part size: unverified", source.text, key)
    return "unverified"
