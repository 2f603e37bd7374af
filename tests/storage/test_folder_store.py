"""The local-folder store (``vlaa.storage.folder``) and ``open_store``'s choice of store."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlaa.storage import (
    InvalidKeyError,
    LocalStore,
    ObjectNotFoundError,
    ObjectStore,
    open_store,
)


def test_local_store_round_trip(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    assert isinstance(store, ObjectStore)
    assert store.list() == [] and not store.exists("a/b.txt")
    store.put_bytes("a/b.txt", b"one")
    store.put_bytes("a/b.txt", b"two")  # replaced atomically
    source = tmp_path / "f.bin"
    source.write_bytes(b"file")
    store.put_file("a/c/d.bin", source)
    store.put_bytes("ab.txt", b"x")
    assert store.get_bytes("a/b.txt") == b"two"
    assert store.list("a/") == ["a/b.txt", "a/c/d.bin"]
    assert store.list("a") == ["a/b.txt", "a/c/d.bin", "ab.txt"]  # plain prefix, as in S3
    assert store.list("a/c/d") == ["a/c/d.bin"]
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "s").rglob("*"))
    with pytest.raises(ObjectNotFoundError):
        store.get_bytes("a/missing")
    store.get_file("a/c/d.bin", tmp_path / "fetched.bin")
    assert (tmp_path / "fetched.bin").read_bytes() == b"file"
    with pytest.raises(ObjectNotFoundError):
        store.get_file("a/missing", tmp_path / "missing.bin")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "a/", "a\\b", "./a", "x/.tmp-1"])
def test_local_store_rejects_unsafe_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidKeyError):
        LocalStore(tmp_path).put_bytes(key, b"")


def test_local_store_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        store.put_file("k", tmp_path / "does-not-exist")
    assert store.list() == []


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    file_store = open_store(f"file://{tmp_path}/reg")
    assert isinstance(file_store, LocalStore) and file_store.root == tmp_path / "reg"
    with pytest.raises(ValueError, match=r"'gs'.*supported: local path, file://, s3://"):
        open_store("gs://bucket/models")
    with pytest.raises(ValueError, match="remote host"):
        open_store("file://elsewhere/x")
