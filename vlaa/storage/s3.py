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
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import MIN_PART_SIZE, check_bucket_name

from vlaa.storage.base import ObjectNotFoundError, StoreError, check_key, file_sha256

logger = logging.getLogger(__name__)

T = TypeVar("T")

ENDPOINT_VARS = ("VLAA_S3_ENDPOINT", "AWS_ENDPOINT_URL")
ACCESS_KEY_VARS = ("AWS_ACCESS_KEY_ID", "MINIO_ACCESS_KEY")
SECRET_KEY_VARS = ("AWS_SECRET_ACCESS_KEY", "MINIO_SECRET_KEY")
REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
SHA256_META = "sha256"  # stored as x-amz-meta-sha256
CREDENTIAL_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)
TRANSIENT_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "OperationAborted"}
)


class S3StoreError(StoreError):
    """An S3 operation failed for a reason that is not transient; ``code`` is S3's code."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class S3ConfigError(S3StoreError, ValueError):
    """The environment does not say which endpoint / credentials to use."""


class S3UnreachableError(S3StoreError):
    """The endpoint could not be reached (after the bounded retries)."""


class S3CredentialsError(S3StoreError):
    """The endpoint rejected the credentials."""


class S3BucketError(S3StoreError):
    """The bucket does not exist (or its name is invalid)."""


class S3IntegrityError(S3StoreError):
    """An uploaded object does not match the local file (size or SHA-256)."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a ``HEAD`` tells about an object: its size, ETag and recorded SHA-256 ("": none)."""

    size: int
    etag: str
    sha256: str


def _first_env(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str | None, str | None]:
    for name in names:
        value = env.get(name)
        if value:
            return name, value
    return None, None


@dataclass(frozen=True)
class S3Settings:
    """Connection settings; build them with :meth:`from_env`. ``repr`` hides the secret."""

    endpoint: str  # scheme://host[:port], as given
    host: str  # host[:port], as minio wants it
    secure: bool
    access_key: str
    secret_key: str
    access_key_var: str
    session_token: str | None = None
    region: str | None = None
    part_size: int = 64 * 1024 * 1024
    max_attempts: int = 4
    backoff_s: float = 0.5
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    parallel_uploads: int = 3

    def __repr__(self) -> str:
        return (
            f"S3Settings(endpoint={self.endpoint!r}, access_key_var={self.access_key_var!r}, "
            f"region={self.region!r}, part_size={self.part_size})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        """Read the endpoint, credentials and tuning knobs from the environment."""
        env = os.environ if env is None else env
        _, endpoint = _first_env(env, ENDPOINT_VARS)
        if not endpoint:
            raise S3ConfigError(
                "no S3 endpoint: set VLAA_S3_ENDPOINT (or AWS_ENDPOINT_URL), e.g. "
                "http://minio.kubeflow:9000 or https://s3.amazonaws.com"
            )
        host, secure = parse_endpoint(endpoint)
        key_var, access_key, secret_key = None, None, None
        for key_name, secret_name in zip(ACCESS_KEY_VARS, SECRET_KEY_VARS, strict=True):
            if env.get(key_name) and env.get(secret_name):
                key_var, access_key, secret_key = key_name, env[key_name], env[secret_name]
                break
        if not access_key or not secret_key:
            raise S3ConfigError(
                "no S3 credentials: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                "MINIO_ACCESS_KEY and MINIO_SECRET_KEY) in the environment, e.g. from a "
                "Kubernetes Secret; credentials are never taken from URIs or parameters"
            )
        _, region = _first_env(env, REGION_VARS)
        part_mb = _number(env, "VLAA_S3_PART_SIZE_MB", 64.0)
        part_size = int(part_mb * 1024 * 1024)
        if part_size < MIN_PART_SIZE:
            raise S3ConfigError(f"VLAA_S3_PART_SIZE_MB={part_mb:g} is below S3's minimum of 5")
        return cls(
            endpoint=endpoint.rstrip("/"),
            host=host,
            secure=secure,
            access_key=access_key,
            secret_key=secret_key,
            access_key_var=str(key_var),
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            region=region,
            part_size=part_size,
            max_attempts=max(1, int(_number(env, "VLAA_S3_MAX_ATTEMPTS", 4))),
            backoff_s=max(0.0, _number(env, "VLAA_S3_BACKOFF_S", 0.5)),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as error:
        raise S3ConfigError(f"{name}={raw!r} is not a number") from error


def parse_endpoint(endpoint: str) -> tuple[str, bool]:
    """``http://host:port`` -> ("host:port", False); ``https://host`` or ``host`` -> secure."""
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise S3ConfigError(f"S3 endpoint {endpoint!r} is not http(s)://host[:port]")
    if parts.username or parts.password:
        raise S3ConfigError("the S3 endpoint must not embed credentials; use the env variables")
    if parts.path not in ("", "/") or parts.query:
        raise S3ConfigError(f"S3 endpoint {endpoint!r} must not have a path (bucket goes in s3://)")
    return parts.netloc, parts.scheme == "https"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ("bucket", "a/b"); refuses credentials in the URI."""
    parts = urlsplit(uri)
    if parts.scheme != "s3":
        raise ValueError(f"{uri!r} is not an s3:// URI")
    if "@" in parts.netloc:
        raise ValueError(
            "credentials in an s3:// URI are not accepted; set AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY in the environment"
        )
    bucket = parts.netloc
    try:
        check_bucket_name(bucket, strict=True)
    except ValueError as error:
        raise S3BucketError(f"invalid bucket name {bucket!r} in {uri!r}: {error}") from error
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
    return bucket, prefix


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
        name = self._name(key)

        def read() -> bytes:
            response = self.client.get_object(self.bucket, name)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"download of {name}", read)
        except S3StoreError as error:
            if _is_missing(error):
                raise ObjectNotFoundError(f"no object {key!r} in {self!r}") from None
            raise

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
