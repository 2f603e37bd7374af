"""``hf://`` through huggingface_hub's real ``snapshot_download`` against a Hugging Face cache
laid out on disk the way huggingface_hub writes it, with ``HF_HUB_OFFLINE=1``.

Layout (huggingface_hub 2.x, ``file_download.py`` / ``_snapshot_download.py`` /
``_tree_cache.py``)::

    models--ORG--NAME/blobs/<etag>                    file contents, named by ETag: the SHA-256
                                                      of an LFS file, the git blob SHA-1 otherwise
    models--ORG--NAME/snapshots/<commit>/<path>       relative symlinks to the blobs
    models--ORG--NAME/refs/<branch or tag>            the commit hash, no newline
    models--ORG--NAME/trees/<commit>.json             the tree listing (optional)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from vlaa.modeling.base_models import SOURCE_FILE, resolve_base_model
from vlaa.modeling.loading import load_model
from vlaa.modeling.sources.errors import ChecksumMismatchError, ModelNotFoundError

REPO = "test-org/tiny-vl"
MAIN = "a" * 40  # commit of refs/main, with a tree listing
TAGGED = "b" * 40  # commit of refs/v1, without one (older caches): blob names are checked
LFS_SUFFIXES = (".safetensors",)  # what the Hub's default .gitattributes sends to LFS


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lay_out_snapshot(cache: Path, repo_id: str, model_dir: Path, commit: str, tree: bool) -> Path:
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    files = {}
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(model_dir).as_posix()
        data = path.read_bytes()
        entry: dict = {"size": len(data), "blob_id": git_blob_sha1(data)}
        etag = entry["blob_id"]
        if path.suffix in LFS_SUFFIXES:
            etag = hashlib.sha256(data).hexdigest()
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{etag}\n"
            pointer += f"size {len(data)}\n"
            entry = {
                "size": len(data),
                "blob_id": git_blob_sha1(pointer.encode()),  # git stores the pointer
                "lfs_sha256": etag,
                "lfs_size": len(data),
            }
        blob = repo / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
        files[relative] = entry
    if tree:
        listing = repo / "trees" / f"{commit}.json"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text(json.dumps({"format_version": 1, "files": files}, indent=1))
    return repo


def set_ref(repo: Path, name: str, commit: str) -> None:
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / name).write_text(commit)


@pytest.fixture(scope="module")
def hf_home(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf-home")
    repo = lay_out_snapshot(home / "hub", REPO, tiny_model_dir, MAIN, tree=True)
    lay_out_snapshot(home / "hub", REPO, tiny_model_dir, TAGGED, tree=False)
    set_ref(repo, "main", MAIN)
    set_ref(repo, "v1", TAGGED)
    return home


@pytest.fixture
def offline_hub(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hf_home


def test_main_from_the_cache_loads_and_records_the_commit(
    offline_hub: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    resolved = resolve_base_model(f"hf://{REPO}", tmp_path / "base")
    names = sorted(p.name for p in tiny_model_dir.iterdir())
    assert sorted(p.name for p in resolved.path.iterdir()) == sorted([*names, SOURCE_FILE])
    assert not any(p.is_symlink() for p in resolved.path.iterdir())  # real files, not links
    lineage = resolved.lineage
    assert (lineage["kind"], lineage["repo_id"], lineage["revision"]) == ("hf", REPO, "main")
    assert lineage["commit"] == MAIN
    assert lineage["verified_files"] == lineage["files"] == len(names)
    assert resolved.card_name == REPO
    assert json.loads((resolved.path / SOURCE_FILE).read_text()) == lineage
    assert load_model(resolved.path, device="cpu").config.model_type == "qwen2_5_vl"


@pytest.mark.parametrize(("revision", "commit"), [("v1", TAGGED), (MAIN, MAIN)])
def test_a_revision_names_its_commit(
    offline_hub: Path, revision: str, commit: str, tmp_path: Path
) -> None:
    resolved = resolve_base_model(f"hf://{REPO}@{revision}", tmp_path / "base")
    assert (resolved.lineage["revision"], resolved.lineage["commit"]) == (revision, commit)
    # Without a tree listing the blob names (SHA-256 / git SHA-1) are what is checked.
    assert resolved.lineage["verified_files"] == resolved.lineage["files"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("hf://test-org/absent", "repo 'test-org/absent' is not in the Hugging Face cache"),
        (f"hf://{REPO}@nope", f"revision 'nope' of '{REPO}' is not \\(fully\\) in"),
    ],
)
def test_a_missing_repo_or_revision_is_one_clear_line(
    offline_hub: Path, source: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ModelNotFoundError, match=message) as caught:
        resolve_base_model(source, tmp_path / "base")
    assert "HF_HUB_OFFLINE is set" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "base").exists()


def test_a_corrupted_blob_fails_its_sha256(
    hf_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(hf_home, home, symlinks=True)
    weights = next((home / "hub").rglob(f"snapshots/{MAIN}/*.safetensors"))
    blob = weights.resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ChecksumMismatchError, match=f"{weights.name} in the Hugging Face cache"):
        resolve_base_model(f"hf://{REPO}", tmp_path / "base")
