"""Settings and errors of the S3 store: endpoint, credentials and tuning from the environment.

See :mod:`vlaa.storage.s3` for the variables; nothing here talks to a server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from minio.helpers import MIN_PART_SIZE, check_bucket_name

from vlaa.storage.base import StoreError, check_key

ENDPOINT_VARS = ("VLAA_S3_ENDPOINT", "AWS_ENDPOINT_URL")
ACCESS_KEY_VARS = ("AWS_ACCESS_KEY_ID", "MINIO_ACCESS_KEY")
SECRET_KEY_VARS = ("AWS_SECRET_ACCESS_KEY", "MINIO_SECRET_KEY")
REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")


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
