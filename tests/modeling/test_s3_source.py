"""``s3://`` against moto's S3 server: objects written by the project's store (SHA-256 in their
metadata) or by any S3 client (ETag: MD5, multipart MD5), each checked; a mismatch, refused
keys and missing prefixes are one-line errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from doubles.s3_api import MotoS3

from vlaa.modeling.base_models import resolve_base_model
from vlaa.modeling.loading import ModelLoadError, check_model_dir, load_model
from vlaa.modeling.sources.errors import (
    ChecksumMismatchError,
    CredentialsRefusedError,
    ModelNotFoundError,
)
from vlaa.storage import open_store

MIB = 1 << 20


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def upload_with_the_store(folder: Path, uri: str) -> None:
    store = open_store(uri)
    for path in files_of(folder):
        store.put_file(path.relative_to(folder).as_posix(), path)


def test_a_prefix_written_by_the_project_store_loads(
    bucket: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    uri = f"s3://{bucket}/base/tiny"
    upload_with_the_store(tiny_model_dir, uri)
    open_store(f"s3://{bucket}/base/tiny/checkpoint-5").put_bytes("optimizer.pt", b"skipped")
    resolved = resolve_base_model(uri, tmp_path / "base")
    count = len(files_of(tiny_model_dir))
    assert resolved.lineage["checks"] == {"sha256": count}
    assert resolved.lineage["files"] == count and resolved.lineage["uri"] == uri
    assert not (resolved.path / "checkpoint-5").exists()
    assert load_model(resolved.path, device="cpu").config.model_type == "qwen2_5_vl"


def test_objects_from_any_client_are_checked_by_their_etag(
    moto_s3: MotoS3, bucket: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """boto3 (as aws-cli): small files single-part (ETag = MD5), a large one in 8 MiB parts."""
    client = moto_s3.client()
    for path in files_of(tiny_model_dir):
        client.upload_file(str(path), bucket, f"plain/{path.relative_to(tiny_model_dir)}")
    large = tmp_path / "extra.dat"
    large.write_bytes(uuid.uuid4().bytes * (17 * MIB // 16))  # 17 MiB: 3 parts of 8 MiB
    parts = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    client.upload_file(str(large), bucket, "plain/extra.dat", Config=parts)
    assert client.head_object(Bucket=bucket, Key="plain/extra.dat")["ETag"].endswith('-3"')

    resolved = resolve_base_model(f"s3://{bucket}/plain", tmp_path / "base")
    small = len(files_of(tiny_model_dir))
    assert resolved.lineage["checks"] == {"etag-md5": small, "etag-multipart": 1}
    assert (resolved.path / "extra.dat").read_bytes() == large.read_bytes()
    check_model_dir(resolved.path)


def test_a_checksum_mismatch_is_refused(
    moto_s3: MotoS3, bucket: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    uri = f"s3://{bucket}/bad"
    upload_with_the_store(tiny_model_dir, uri)
    weights = next(tiny_model_dir.glob("*.safetensors"))
    moto_s3.client().put_object(  # same name, other bytes, the original's recorded SHA-256
        Bucket=bucket,
        Key=f"bad/{weights.name}",
        Body=weights.read_bytes()[:-1] + b"\0",
        Metadata={"sha256": open_store(uri).sha256(weights.name)},
    )
    with pytest.raises(ChecksumMismatchError, match=f"{weights.name} fails its checksum"):
        resolve_base_model(uri, tmp_path / "base")


def test_missing_prefix_and_bucket(bucket: str, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no objects under this prefix"):
        resolve_base_model(f"s3://{bucket}/nothing/here", tmp_path / "base")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_base_model("s3://no-such-bucket-here/x", tmp_path / "base")


def test_a_prefix_without_weights_names_what_is_missing(
    bucket: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    store = open_store(f"s3://{bucket}/no-weights")
    for path in files_of(tiny_model_dir):
        if path.suffix != ".safetensors":
            store.put_file(path.relative_to(tiny_model_dir).as_posix(), path)
    with pytest.raises(ModelLoadError, match=r"is missing: weights"):
        resolve_base_model(f"s3://{bucket}/no-weights", tmp_path / "base")


def test_refused_credentials_are_one_line(
    moto_s3: MotoS3, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # IAM auth switched on in moto's server (tests/storage/test_s3_store.py, enforced_auth).
    requests.post(f"{moto_s3.endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-never-shown")
        with pytest.raises(CredentialsRefusedError, match="rejected the credentials") as caught:
            resolve_base_model(f"s3://{bucket}/base", tmp_path / "base")
    finally:
        requests.post(f"{moto_s3.endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)
    assert "wrong-secret-never-shown" not in str(caught.value)
    assert "\n" not in str(caught.value)
