"""S3 publishing against moto's real S3 server on loopback, through the production code path.

Every test talks HTTP to ``moto.server.ThreadedMotoServer`` via the ``minio`` client, exactly
as the publish step talks to MinIO in the cluster; nothing is mocked. moto keeps its state in
this process, so a server stopped mid-upload and started again on the same port still holds
what was written before it died.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from doubles.s3_api import SECRET, MotoS3, free_port, s3_env

from vlaa.registry.config import PublishConfig
from vlaa.registry.errors import ModelFolderError, PublishStoreError, VersionExistsError
from vlaa.registry.layout import list_versions, resolve_alias
from vlaa.registry.publish import publish
from vlaa.registry.store import plan_files, verify_version, write_version
from vlaa.storage import InvalidKeyError, ObjectNotFoundError, ObjectStore, open_store
from vlaa.storage.s3 import (
    S3BucketError,
    S3ConfigError,
    S3CredentialsError,
    S3Settings,
    S3Store,
    S3UnreachableError,
)

MODEL = "tiny"
METRICS = {"accuracy": 0.75, "accuracy_digit": 0.8, "accuracy_mcq": 0.7}
BASE_METRICS = {"accuracy": 0.5}
LINEAGE = {"pipeline_run_id": "run-s3", "code_version": "abc1234", "dataset_hash": "sha256:d"}
MiB = 1024 * 1024


def make_model(folder: Path, weights_bytes: int = 4096, weights: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if weights:
        # Not a loadable tensor file, but publishing only moves bytes; size matters here.
        (folder / "model.safetensors").write_bytes(os.urandom(weights_bytes))
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    (folder / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    return folder


def run_publish(model_dir: Path, store_uri: str, **overrides: Any) -> Any:
    cfg = PublishConfig(store_uri=store_uri, model_name=MODEL, **overrides)
    return publish(
        model_dir,
        cfg,
        METRICS,
        {"learning_rate": 1e-6},
        {"name": "synthetic"},
        LINEAGE,
        base_metrics=BASE_METRICS,
    )


def objects(moto_s3: MotoS3, bucket: str) -> list[str]:
    listing = moto_s3.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


# ----------------------------------------------------------------------------- settings


def test_settings_come_from_the_environment_only() -> None:
    env = {"VLAA_S3_ENDPOINT": "http://minio:9000", "AWS_ACCESS_KEY_ID": "id"}
    with pytest.raises(S3ConfigError, match="set both AWS_ACCESS_KEY_ID and AWS_SECRET"):
        S3Settings.from_env(env)
    with pytest.raises(S3ConfigError, match="no S3 endpoint: set VLAA_S3_ENDPOINT"):
        S3Settings.from_env({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})

    plain = S3Settings.from_env({**env, "AWS_SECRET_ACCESS_KEY": "s3cr3t"})
    assert (plain.host, plain.secure, plain.access_key_var) == (
        "minio:9000",
        False,
        "AWS_ACCESS_KEY_ID",
    )
    assert "s3cr3t" not in repr(plain)
    minio_vars = S3Settings.from_env(
        {
            "AWS_ENDPOINT_URL": "https://s3.example.com",
            "MINIO_ACCESS_KEY": "m",
            "MINIO_SECRET_KEY": "k",
            "AWS_REGION": "eu-west-1",
            "VLAA_S3_PART_SIZE_MB": "16",
        }
    )
    assert (minio_vars.host, minio_vars.secure, minio_vars.access_key_var) == (
        "s3.example.com",
        True,
        "MINIO_ACCESS_KEY",
    )
    assert (minio_vars.region, minio_vars.part_size) == ("eu-west-1", 16 * MiB)
    with pytest.raises(S3ConfigError, match="below S3's minimum of 5"):
        S3Settings.from_env({**env, "AWS_SECRET_ACCESS_KEY": "x", "VLAA_S3_PART_SIZE_MB": "1"})
    with pytest.raises(S3ConfigError, match="must not embed credentials"):
        S3Settings.from_env(
            {**env, "AWS_SECRET_ACCESS_KEY": "x", "VLAA_S3_ENDPOINT": "http://u:p@h"}
        )


def test_s3_uris(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    s3_env(monkeypatch, moto_s3.endpoint)
    store = open_store("s3://some-bucket/models/team")
    assert isinstance(store, S3Store) and isinstance(store, ObjectStore)
    assert (store.bucket, store.prefix, store.uri) == (
        "some-bucket",
        "models/team",
        "s3://some-bucket/models/team",
    )
    with pytest.raises(ValueError, match="credentials in an s3:// URI are not accepted") as caught:
        open_store("s3://user:hunter2@some-bucket/models")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(S3BucketError, match="invalid bucket name"):
        open_store("s3://No_Such!/models")
    assert SECRET not in repr(store)


# ----------------------------------------------------------------------------- store contract


def test_s3_store_contract(moto_s3: MotoS3, bucket: str, tmp_path: Path) -> None:
    store = open_store(f"s3://{bucket}/reg")
    assert store.list() == [] and not store.exists("a/b.txt")
    store.put_bytes("a/b.txt", b"one")
    store.put_bytes("a/b.txt", b"two")  # replaced
    source = tmp_path / "f.bin"
    source.write_bytes(b"file")
    store.put_file("a/c/d.bin", source)
    store.put_bytes("ab.txt", b"x")
    assert store.exists("a/b.txt") and not store.exists("a/c")
    assert store.get_bytes("a/b.txt") == b"two"
    assert store.list("a/") == ["a/b.txt", "a/c/d.bin"]
    assert store.list("a") == ["a/b.txt", "a/c/d.bin", "ab.txt"]  # plain prefix
    assert store.list("a/c/d") == ["a/c/d.bin"]
    assert objects(moto_s3, bucket) == ["reg/a/b.txt", "reg/a/c/d.bin", "reg/ab.txt"]
    with pytest.raises(ObjectNotFoundError):
        store.get_bytes("a/missing")
    with pytest.raises(InvalidKeyError):
        store.put_bytes("../escape", b"")
    store.get_file("a/c/d.bin", tmp_path / "fetched.bin")
    assert (tmp_path / "fetched.bin").read_bytes() == b"file"
    with pytest.raises(ObjectNotFoundError):
        store.get_file("a/missing", tmp_path / "missing.bin")


def test_multipart_upload_with_checksum_metadata(
    moto_s3: MotoS3, bucket: str, tmp_path: Path
) -> None:
    import hashlib

    big = tmp_path / "big.bin"
    data = os.urandom(12 * MiB)  # 5 MiB parts -> a 3-part multipart upload
    big.write_bytes(data)
    store = S3Store.from_uri(f"s3://{bucket}")
    store.put_file("big.bin", big)
    head = moto_s3.client().head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"].endswith('-3"')  # a multipart ETag: md5-of-md5s "-<parts>"
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert store.sha256("big.bin") == hashlib.sha256(data).hexdigest()
    assert store.get_bytes("big.bin") == data


# ----------------------------------------------------------------------------- publishing


def test_publish_to_s3_end_to_end(moto_s3: MotoS3, bucket: str, tmp_path: Path) -> None:
    model_dir = make_model(tmp_path / "model", weights_bytes=7 * MiB)  # multipart weights
    uri = f"s3://{bucket}/models"
    result = run_publish(model_dir, uri, serving="kserve-vllm", gate_min_average_delta=0.1)
    assert (result.version, result.promoted, result.resumed) == ("v0001", True, False)
    assert result.uri == f"{uri}/{MODEL}/versions/v0001"
    store = open_store(uri)
    assert list_versions(store, MODEL) == ["v0001"]
    assert resolve_alias(store, MODEL, "latest") == "v0001"
    manifest = verify_version(store, MODEL, "v0001")
    assert {entry["path"] for entry in manifest["files"]} == {
        "README.md",
        "config.json",
        "inference_service.yaml",
        "model.safetensors",
        "tokenizer_config.json",
    }
    assert manifest["lineage"] == LINEAGE and manifest["gate"]["passed"] is True
    card = store.get_bytes(f"{MODEL}/versions/v0001/README.md").decode()
    for expected in ("run-s3", "abc1234", "sha256:d", "| accuracy | 0.75 | 0.5 |"):
        assert expected in card
    assert SECRET not in card and SECRET not in json.dumps(manifest)
    import yaml

    service = yaml.safe_load(store.get_bytes(f"{MODEL}/versions/v0001/inference_service.yaml"))
    assert service["spec"]["predictor"]["model"]["storageUri"] == result.uri
    keys = objects(moto_s3, bucket)
    assert keys[-1] == f"models/{MODEL}/versions/v0001/tokenizer_config.json"
    assert f"models/{MODEL}/aliases/latest.json" in keys


def test_s3_versions_are_never_overwritten(
    moto_s3: MotoS3, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = make_model(tmp_path / "model")
    uri = f"s3://{bucket}/models"
    run_publish(model_dir, uri)
    store = open_store(uri)
    manifest_key = f"{MODEL}/versions/v0001/manifest.json"
    before = store.get_bytes(manifest_key)
    with pytest.raises(VersionExistsError, match="already exists"):
        write_version(store, MODEL, "v0001", "card", {}, plan_files(model_dir), owner="me")
    # A publisher that computed the same number (a race) loses the claim and takes the next.
    monkeypatch.setattr("vlaa.registry.claims.next_version", lambda store, name: "v0001")
    assert run_publish(model_dir, uri).version == "v0002"
    assert store.get_bytes(manifest_key) == before


def test_s3_gate_refusal_publishes_without_moving_the_alias(bucket: str, tmp_path: Path) -> None:
    model_dir = make_model(tmp_path / "model")
    uri = f"s3://{bucket}/models"
    gate = {"gate_min_average_delta": 0.05, "gate_floors": {"accuracy_mcq": 0.6}}
    good = run_publish(model_dir, uri, alias="production", **gate)
    cfg = PublishConfig(store_uri=uri, model_name=MODEL, alias="production", **gate)
    bad = publish(
        model_dir,
        cfg,
        {"accuracy": 0.52, "accuracy_mcq": 0.4},
        {},
        {},
        LINEAGE,
        base_metrics=BASE_METRICS,
    )
    assert good.promoted and not bad.promoted
    assert "0.52 is below base model's 0.5 + margin 0.05" in bad.reason
    assert "accuracy_mcq 0.4 is below its floor 0.6" in bad.reason
    store = open_store(uri)
    assert list_versions(store, MODEL) == ["v0001", "v0002"]  # published as a candidate
    assert resolve_alias(store, MODEL, "production") == "v0001"  # alias unchanged
    card = store.get_bytes(f"{MODEL}/versions/v0002/README.md").decode()
    assert "published but not promoted" in card and "FAIL: " in card


# ----------------------------------------------------------------------------- faults


def test_server_dies_mid_upload_nothing_visible_and_retry_completes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The S3 server is stopped once the first part of the weights' multipart upload has
    arrived; the publish fails with a clear error, nothing is visible after a restart, and
    running the same publish again resumes and completes the version."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    server = MotoS3()
    server.start()
    try:
        s3_env(monkeypatch, server.endpoint)
        bucket = server.new_bucket()
        model_dir = make_model(tmp_path / "model", weights_bytes=60 * MiB)  # 12 parts
        uri = f"s3://{bucket}/models"
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
        died = threading.Event()

        def kill_after_first_part() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                uploads = list(backend.buckets[bucket].multiparts.values())
                if any(upload.parts for upload in uploads):
                    server.stop()
                    died.set()
                    return
                time.sleep(0.002)

        killer = threading.Thread(target=kill_after_first_part, daemon=True)
        killer.start()
        with pytest.raises(PublishStoreError) as caught:
            run_publish(model_dir, uri)
        killer.join(timeout=5)
        assert died.is_set()
        message = str(caught.value)
        assert f"cannot reach S3 endpoint {server.endpoint}" in message
        assert "run the same publish again to resume" in message

        server.start()  # same port, same in-process state
        store = open_store(uri)
        keys = objects(server, bucket)
        # config.json (uploaded before the weights) is complete; the weights' multipart upload
        # was cut off: moto holds its parts, but no object exists until it is completed.
        assert keys == [
            f"models/{MODEL}/claims/v0001.json",
            f"models/{MODEL}/versions/v0001/config.json",
        ]
        assert any(upload.parts for upload in backend.buckets[bucket].multiparts.values())
        assert list_versions(store, MODEL) == []
        assert resolve_alias(store, MODEL, "latest") is None

        result = run_publish(model_dir, uri)
        assert (result.version, result.promoted, result.resumed) == ("v0001", True, True)
        assert list_versions(store, MODEL) == ["v0001"]
        manifest = verify_version(store, MODEL, "v0001")
        weights = next(e for e in manifest["files"] if e["path"] == "model.safetensors")
        assert weights["size"] == 60 * MiB
        assert resolve_alias(store, MODEL, "latest") == "v0001"
    finally:
        server.stop()


def test_unreachable_endpoint_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    s3_env(monkeypatch, endpoint)
    started = time.monotonic()
    with pytest.raises(PublishStoreError, match=f"cannot reach S3 endpoint {endpoint}") as caught:
        run_publish(make_model(tmp_path / "model"), "s3://models/registry")
    assert time.monotonic() - started < 5  # bounded retries
    assert isinstance(caught.value.__cause__, S3UnreachableError)
    assert SECRET not in str(caught.value)


def test_missing_bucket_is_a_clear_error(moto_s3: MotoS3, bucket: str, tmp_path: Path) -> None:
    with pytest.raises(PublishStoreError, match="bucket 'no-such-bucket' does not exist"):
        run_publish(make_model(tmp_path / "model"), "s3://no-such-bucket/models")


def test_model_folder_without_weights_publishes_nothing(
    moto_s3: MotoS3, bucket: str, tmp_path: Path
) -> None:
    folder = make_model(tmp_path / "no-weights", weights=False)
    with pytest.raises(ModelFolderError, match=r"missing weights \(\*\.safetensors\)"):
        run_publish(folder, f"s3://{bucket}/models")
    assert objects(moto_s3, bucket) == []


@pytest.fixture
def enforced_auth(moto_s3: MotoS3) -> Iterator[dict[str, str]]:
    """IAM auth switched on in moto's server (``/moto-api/reset-auth``, the server-mode form
    of ``INITIAL_NO_AUTH_ACTION_COUNT``) with one user allowed ``s3:*``; switched off after."""
    iam = moto_s3.client("iam")
    user = f"publisher-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    requests.post(
        f"{moto_s3.endpoint}/moto-api/reset-auth", data=b"0", timeout=10
    ).raise_for_status()
    try:
        yield {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        requests.post(f"{moto_s3.endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_wrong_credentials_are_a_clear_error(
    moto_s3: MotoS3,
    bucket: str,
    enforced_auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    model_dir = make_model(tmp_path / "model")
    uri = f"s3://{bucket}/models"
    cases = [
        ("AKIAUNKNOWNKEY", "wrong-secret-1", "InvalidAccessKeyId"),
        (enforced_auth["id"], "wrong-secret-2", "SignatureDoesNotMatch"),
    ]
    for key_id, secret, code in cases:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        with pytest.raises(PublishStoreError) as caught:
            run_publish(model_dir, uri)
        message = str(caught.value)
        assert "S3 rejected the credentials from AWS_ACCESS_KEY_ID" in message and code in message
        assert isinstance(caught.value.__cause__, S3CredentialsError)
        assert secret not in message
    # The right key works under enforced auth; only then is anything written.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", enforced_auth["id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", enforced_auth["secret"])
    store = open_store(uri)
    assert store.list() == []  # the refused attempts wrote nothing
    assert run_publish(model_dir, uri).version == "v0001"
    assert list_versions(store, MODEL) == ["v0001"]


def test_benchmark_copy_on_s3_is_downloaded_once_and_read_like_a_folder(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evaluate step's benchmarks may live in the cluster's object store."""
    # the benchmark file writers live beside the benchmark tests (no package there)
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    from test_benchmarks import _wemath_records, _write_json, _write_png

    from vlaa.benchmarks import load_benchmark

    local = tmp_path / "We-Math"
    for record in _wemath_records():
        _write_png(local / record["image_path"])
    _write_json(local / "testmini.json", _wemath_records())
    store = open_store(f"s3://{bucket}/benchmarks/we-math")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.put_file(path.relative_to(local).as_posix(), path)

    cache = tmp_path / "cache"
    from_s3 = load_benchmark("wemath", f"s3://{bucket}/benchmarks/we-math", cache_dir=cache)
    from_folder = load_benchmark("wemath", local, cache_dir=cache)
    assert [item.id for item in from_s3] == [item.id for item in from_folder]
    assert [item.answer for item in from_s3] == [item.answer for item in from_folder]
    assert all(Path(image).is_file() for item in from_s3 for image in item.images)

    store.put_bytes("testmini.json", b"not json any more")  # a second call reads the cache
    again = load_benchmark("wemath", f"s3://{bucket}/benchmarks/we-math", cache_dir=cache)
    assert [item.id for item in again] == [item.id for item in from_s3]


def test_empty_benchmark_prefix_on_s3_is_a_clear_error(bucket: str, tmp_path: Path) -> None:
    from vlaa.benchmarks import BenchmarkDataError, load_benchmark

    with pytest.raises(BenchmarkDataError, match="no objects under this prefix"):
        load_benchmark("wemath", f"s3://{bucket}/nothing-here", cache_dir=tmp_path)
