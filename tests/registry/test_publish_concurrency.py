"""Concurrent publishes under one name, in separate processes, on moto's S3 server and a folder.

Rounds of two publisher processes (tests/support/publish_race.py) publish different models at
the same moment; a watcher reads ``latest`` all along. Every publish must get its own version,
every version must verify and hold its own publisher's weights, ``latest`` must never move back,
and nobody may resume another's upload. Also: symbolic links that leave the model folder.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.publish_race import NAME, race

from vlaa.registry.config import PublishConfig
from vlaa.registry.errors import ModelFolderError
from vlaa.registry.layout import alias_key, claim_key, list_versions, resolve_alias
from vlaa.registry.publish import publish
from vlaa.registry.store import verify_version
from vlaa.storage import ObjectNotFoundError, ObjectStore, open_store

ROUNDS = 4  # pairs of racing publishers


def watch_alias(store: ObjectStore, seen: list[str], stop: threading.Event) -> None:
    """Record every change of ``latest`` as readers see it."""
    while not stop.is_set():
        try:
            version = json.loads(store.get_bytes(alias_key(NAME, "latest")))["version"]
        except ObjectNotFoundError:
            version = None
        if version and (not seen or seen[-1] != version):
            seen.append(version)
        time.sleep(0.002)


@pytest.fixture(params=["folder", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "folder":
        return str(tmp_path / "registry")
    bucket = request.getfixturevalue("bucket")  # moto's S3 server; env for the children too
    return f"s3://{bucket}/models"


def test_racing_publishers_never_share_or_overwrite_a_version(
    store_uri: str, tmp_path: Path
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(target=race, args=(w, ROUNDS, store_uri, str(tmp_path), barrier, results))
        for w in (0, 1)
    ]
    store = open_store(store_uri)
    seen: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_alias, args=(store, seen, stop), daemon=True)
    watcher.start()
    for worker in workers:
        worker.start()
    try:
        records = [results.get(timeout=120) for _ in range(2 * ROUNDS)]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
        stop.set()
        watcher.join(timeout=5)
    errors = [record["error"] for record in records if "error" in record]
    assert not errors, errors[0]

    versions = [record["version"] for record in records]
    assert len(set(versions)) == 2 * ROUNDS, sorted(versions)  # nobody shared a number
    assert sorted(list_versions(store, NAME)) == sorted(versions)
    assert not any(record["resumed"] for record in records)  # nobody took over an upload
    for record in records:
        version = record["version"]
        manifest = verify_version(store, NAME, version)  # every finished version verifies
        weights = next(e for e in manifest["files"] if e["path"] == "model.safetensors")
        assert weights["sha256"] == record["weights"], f"{version} holds another's weights"
        claim = json.loads(store.get_bytes(claim_key(NAME, version)))
        assert claim["owner"] == manifest["owner"]
        assert record["alias_version"] >= version  # the alias is this one or a newer one

    numbers = [int(version[1:]) for version in seen]
    assert numbers == sorted(numbers), f"latest moved back: {seen}"
    assert resolve_alias(store, NAME, "latest") == max(versions)


# ----------------------------------------------------------------------------- symlinks


def small_model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (folder / "tokenizer_config.json").write_text("{}")
    return folder


def run(model_dir: Path, store_dir: Path) -> Any:
    config = PublishConfig(store_uri=str(store_dir), model_name="linked")
    return publish(model_dir, config, {"accuracy": 0.5}, {}, {}, {})


def test_a_symlink_out_of_the_model_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_text("root:$6$hash")
    model_dir = small_model(tmp_path / "model")
    (model_dir / "extra").mkdir()
    (model_dir / "extra" / "vocab.txt").symlink_to(secret)
    store_dir = tmp_path / "registry"
    with pytest.raises(ModelFolderError, match=r"extra/vocab\.txt .* symbolic link to .*shadow"):
        run(model_dir, store_dir)
    assert not store_dir.exists()  # refused before anything was claimed or uploaded

    (model_dir / "extra" / "vocab.txt").unlink()
    (model_dir / "extra" / "outside").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(ModelFolderError, match=r"extra/outside .* outside the folder"):
        run(model_dir, store_dir)


def test_a_symlink_inside_the_model_folder_is_published_as_a_file(tmp_path: Path) -> None:
    model_dir = small_model(tmp_path / "model")
    (model_dir / "tokenizer.json").symlink_to(model_dir / "tokenizer_config.json")
    store_dir = tmp_path / "registry"
    result = run(model_dir, store_dir)
    published = store_dir / "linked" / "versions" / result.version / "tokenizer.json"
    assert published.read_text() == "{}" and not published.is_symlink()
    assert verify_version(open_store(str(store_dir)), "linked", result.version)
