"""``hf://`` through huggingface_hub's real ``snapshot_download`` against a Hugging Face cache
laid out on disk the way huggingface_hub writes it (tests/support/hf_cache.py), with
``HF_HUB_OFFLINE=1``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.hf_cache import lay_out_snapshot, set_ref

from vlaa.modeling.base_models import SOURCE_FILE, resolve_base_model
from vlaa.modeling.loading import load_model
from vlaa.modeling.sources.errors import ChecksumMismatchError, ModelNotFoundError

REPO = "test-org/tiny-vl"
MAIN = "a" * 40  # commit of refs/main, with a tree listing
TAGGED = "b" * 40  # commit of refs/v1, without one (older caches): blob names are checked


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
