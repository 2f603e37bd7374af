"""An :class:`~vlaa.storage.ObjectStore` on any S3 endpoint (MinIO in the cluster) via ``minio``.

Endpoint and credentials come only from the environment (in a cluster: a Kubernetes Secret
mapped into it), never from URIs, pipeline parameters or logs:

=========================================  ===============================================
``VLAA_S3_ENDPOINT`` / ``AWS_ENDPOINT_URL``  ``http://minio:9000`` (plain HTTP) or ``https://...``
``AWS_ACCESS_KEY_ID`` / ``MINIO_ACCESS_KEY``   access key
``AWS_SECRET_ACCESS_KEY`` / ``MINIO_SECRET_KEY``  secret key
``AWS_SESSION_TOKEN``                      optional
``AWS_REGION`` / ``AWS_DEFAULT_REGION``      optional
``VLAA_S3_PART_SIZE_MB``                   multipart part size (default 64, minimum 5)
``VLAA_S3_MAX_ATTEMPTS``                   tries per operation on transient errors (default 4)
``VLAA_S3_BACKOFF_S``                      first back-off, doubled per retry (default 0.5)
=========================================  ===============================================

Integrity: every request body is checksummed by the client and verified by the server
(signed ``x-amz-content-sha256`` over HTTP, ``Content-MD5`` over HTTPS, per part of a
multipart upload); in addition the whole object's SHA-256 is stored as the object's
``x-amz-meta-sha256`` and checked with a ``HEAD`` after every upload. A multipart upload
becomes an object only when it completes, so a reader never sees a partial object.

Conditional writes (:class:`~vlaa.storage.base.ConditionalStore`) send ``If-None-Match: *``
(create only) and ``If-Match: <etag>`` (compare-and-swap) on a plain PutObject; S3 and MinIO
evaluate them atomically on the server, moto's server as a check-then-write (see
tests/doubles/s3_api.py).
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from vlaa.storage.base import ObjectNotFoundError, check_key, file_sha256
from vlaa.storage.s3_settings import (  # re-exported: callers import them from here
    ACCESS_KEY_VARS,
    ENDPOINT_VARS,
    REGION_VARS,
    SECRET_KEY_VARS,
    S3BucketError,
    S3ConfigError,
    S3CredentialsError,
    S3IntegrityError,
    S3Settings,
    S3StoreError,
    S3UnreachableError,
    parse_endpoint,
    parse_s3_uri,
)

__all__ = [
    "ACCESS_KEY_VARS",
    "ENDPOINT_VARS",
    "REGION_VARS",
    "SECRET_KEY_VARS",
    "S3BucketError",
    "S3ConfigError",
    "S3CredentialsError",
    "S3IntegrityError",
    "S3Settings",
    "S3Store",
    "S3StoreError",
    "S3UnreachableError",
    "parse_endpoint",
    "parse_s3_uri",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

SHA256_META = "sha256"  # stored as x-amz-meta-sha256
CREDENTIAL_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)
# ConditionalRequestConflict (409): AWS's answer while another conditional write of the same
# key is in flight; retrying then gets the real outcome (success or PreconditionFailed).
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "OperationAborted",
        "ConditionalRequestConflict",
    }
)
# A conditional put refused: the object changed (412) or, for If-Match, is gone (moto: 404).
CONDITION_FAILED_CODES = frozenset({"PreconditionFailed", "NoSuchKey"})


@dataclass(frozen=True)
class ObjectInfo:
    """What a ``HEAD`` tells about an object: its size, ETag and recorded SHA-256 ("": none)."""

    size: int
    etag: str
    sha256: str


class S3Store:
    """Keys live under ``s3://bucket/prefix/``; one ``put`` is atomic, as S3 guarantees."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        settings: S3Settings | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.settings = settings or S3Settings.from_env()
        s = self.settings
        # Retries are ours (bounded, with back-off, and reported), not urllib3's.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=s.connect_timeout_s, read=s.read_timeout_s),
            maxsize=max(10, s.parallel_uploads * 2),
            retries=False,
        )
        self.client = Minio(
            s.host,
            access_key=s.access_key,
            secret_key=s.secret_key,
            session_token=s.session_token,
            secure=s.secure,
            region=s.region,
            http_client=http,
        )

    @classmethod
    def from_uri(cls, uri: str, settings: S3Settings | None = None) -> S3Store:
        """The store for ``s3://bucket/prefix`` with settings from the environment."""
        bucket, prefix = parse_s3_uri(uri)
        return cls(bucket, prefix, settings)

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r} at {self.settings.endpoint})"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    # --------------------------------------------------------------------- keys

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    # --------------------------------------------------------------------- errors and retries

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        """Run ``operation`` with bounded retries on transient errors; translate failures."""
        s = self.settings
        for attempt in range(1, s.max_attempts + 1):
            try:
                return operation()
            except S3Error as error:
                status = error.response.status if error.response is not None else 0
                transient = error.code in TRANSIENT_CODES or status >= 500
                if not transient or attempt == s.max_attempts:
                    raise self._translate(what, error, attempt) from None
                reason = f"{error.code}: {error.message}"
            except (ServerError, InvalidResponseError) as error:
                status = getattr(error, "status_code", getattr(error, "_code", 0)) or 0
                if int(status) < 500 or attempt == s.max_attempts:
                    raise S3StoreError(
                        f"S3 {what} failed at {s.endpoint} after {attempt} attempt(s): {error}"
                    ) from None
                reason = str(error)
            except (urllib3.exceptions.HTTPError, ConnectionError) as error:
                if attempt == s.max_attempts:
                    raise S3UnreachableError(
                        f"cannot reach S3 endpoint {s.endpoint}: {_short(error)} "
                        f"(during {what}; {attempt} attempt(s))"
                    ) from None
                reason = _short(error)
            delay = s.backoff_s * 2 ** (attempt - 1)
            logger.warning(
                "S3 %s failed (attempt %d/%d): %s; retrying in %.2f s",
                what,
                attempt,
                s.max_attempts,
                reason,
                delay,
            )
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, what: str, error: S3Error, attempts: int) -> S3StoreError:
        s = self.settings
        code = error.code
        if code in CREDENTIAL_CODES:
            return S3CredentialsError(
                f"S3 rejected the credentials from {s.access_key_var} and its secret key at "
                f"{s.endpoint} ({code}: {error.message}) during {what}; check the Kubernetes "
                "Secret or environment that provides them",
                code,
            )
        if code == "NoSuchBucket":
            return S3BucketError(
                f"bucket {self.bucket!r} does not exist at {s.endpoint} (during {what}); "
                "create it first (e.g. `mc mb`) or fix the s3:// URI",
                code,
            )
        return S3StoreError(
            f"S3 {what} failed at {s.endpoint} after {attempts} attempt(s): {code}: "
            f"{error.message}",
            code,
        )

    # --------------------------------------------------------------------- ObjectStore

    def exists(self, key: str) -> bool:
        return self.sha256(key, missing_ok=True, metadata_only=True) is not None

    def sha256(self, key: str, missing_ok: bool = True, metadata_only: bool = False) -> str | None:
        """The object's SHA-256 from its metadata (computed by reading it if absent).

        ``None`` if there is no object; with ``metadata_only`` a present object without the
        metadata gives ``""``.
        """
        name = self._name(key)
        try:
            stat = self._call(f"stat of {name}", lambda: self.client.stat_object(self.bucket, name))
        except S3StoreError as error:
            if missing_ok and _is_missing(error):
                return None
            raise
        recorded = _meta(stat.metadata, SHA256_META)
        if recorded or metadata_only:
            return recorded or ""
        return hashlib.sha256(self.get_bytes(key)).hexdigest()

    def stat(self, key: str) -> ObjectInfo:
        """Size, ETag (unquoted) and ``x-amz-meta-sha256`` of an object (readers verify with it)."""
        name = self._name(key)
        try:
            stat = self._call(f"stat of {name}", lambda: self.client.stat_object(self.bucket, name))
        except S3StoreError as error:
            if _is_missing(error):
                raise ObjectNotFoundError(f"no object {key!r} in {self!r}") from None
            raise
        recorded = _meta(stat.metadata, SHA256_META) or ""
        return ObjectInfo(int(stat.size or 0), (stat.etag or "").strip('"'), recorded)

    def put_file(self, key: str, local_path: Path, sha256: str | None = None) -> None:
        name = self._name(key)
        local_path = Path(local_path)
        if sha256 is None:
            digest, size = file_sha256(local_path)
        else:  # hashed by the caller already (publish plans every file): no second read
            digest, size = sha256, local_path.stat().st_size
        s = self.settings
        self._call(
            f"upload of {name}",
            lambda: self.client.fput_object(
                self.bucket,
                name,
                str(local_path),
                metadata={SHA256_META: digest},
                part_size=s.part_size,
                num_parallel_uploads=s.parallel_uploads,
            ),
        )
        self._check_upload(name, digest, size)

    def put_bytes(self, key: str, data: bytes) -> None:
        name = self._name(key)
        digest = hashlib.sha256(data).hexdigest()
        self._call(
            f"upload of {name}",
            lambda: self.client.put_object(
                self.bucket, name, io.BytesIO(data), len(data), metadata={SHA256_META: digest}
            ),
        )
        self._check_upload(name, digest, len(data))

    def get_bytes(self, key: str) -> bytes:
        return self.get_bytes_tagged(key)[0]  # one read path: the body and its ETag

    def get_file(self, key: str, local_path: Path) -> None:
        name = self._name(key)
        # minio's fget_object streams to "<path>.<etag>.part_minio" and renames at the end.
        try:
            self._call(
                f"download of {name}",
                lambda: self.client.fget_object(self.bucket, name, str(local_path)),
            )
        except S3StoreError as error:
            if _is_missing(error):
                raise ObjectNotFoundError(f"no object {key!r} in {self!r}") from None
            raise

    def list(self, prefix: str = "") -> list[str]:
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix

        def names() -> list[str]:
            return [
                str(item.object_name)
                for item in self.client.list_objects(self.bucket, prefix=full, recursive=True)
                if not item.is_dir
            ]

        return sorted(self._key(name) for name in self._call(f"listing of {full!r}", names))

    # --------------------------------------------------------------------- ConditionalStore

    def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        return self._put_conditional(key, data, {"If-None-Match": "*"})

    def get_bytes_tagged(self, key: str) -> tuple[bytes, str]:
        name = self._name(key)

        def read() -> tuple[bytes, str]:
            response = self.client.get_object(self.bucket, name)
            try:
                return response.read(), str(response.headers.get("etag", "")).strip('"')
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"download of {name}", read)
        except S3StoreError as error:
            if _is_missing(error):
                raise ObjectNotFoundError(f"no object {key!r} in {self!r}") from None
            raise

    def put_bytes_if_tag(self, key: str, data: bytes, tag: str) -> bool:
        return self._put_conditional(key, data, {"If-Match": f'"{tag}"'})

    def _put_conditional(self, key: str, data: bytes, condition: dict[str, str]) -> bool:
        """One PutObject carrying ``condition``; False when the server refuses it.

        minio's public ``put_object`` turns every header it does not know into user metadata
        (``minio.helpers.normalize_headers``: ``If-None-Match`` would travel as
        ``x-amz-meta-if-none-match`` and be ignored), so this calls the PutObject request it
        wraps (``Minio._put_object``, minio 7.2), which sends headers as given. A retried
        request whose first answer was lost can be refused by its own write: callers read the
        object back to tell (the claim's owner token, the alias's version).
        """
        name = self._name(key)
        headers = {
            **condition,
            "Content-Type": "application/json",
            f"x-amz-meta-{SHA256_META}": hashlib.sha256(data).hexdigest(),
        }
        try:
            self._call(
                f"conditional upload of {name}",
                lambda: self.client._put_object(self.bucket, name, data, headers=headers),
            )
        except S3StoreError as error:
            if error.code in CONDITION_FAILED_CODES:
                return False
            raise
        return True

    # --------------------------------------------------------------------- helpers

    def _check_upload(self, name: str, digest: str, size: int) -> None:
        stat = self._call(f"stat of {name}", lambda: self.client.stat_object(self.bucket, name))
        recorded = _meta(stat.metadata, SHA256_META)
        if stat.size != size or recorded != digest:
            raise S3IntegrityError(
                f"uploaded {name} does not match the local data: size {stat.size} vs {size}, "
                f"sha256 {recorded} vs {digest}"
            )


def _is_missing(error: S3StoreError) -> bool:
    return error.code in ("NoSuchKey", "NoSuchObject", "NotFound")


def _meta(metadata: Mapping[str, str] | None, name: str) -> str | None:
    wanted = f"x-amz-meta-{name}"
    for header, value in (metadata or {}).items():
        if header.lower() == wanted:
            return value
    return None


def _short(error: BaseException) -> str:
    """The innermost reason of a urllib3 error, without the retry boilerplate."""
    reason = getattr(error, "reason", None)
    return str(reason if reason is not None else error)
