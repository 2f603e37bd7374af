"""A Hugging Face cache laid out on disk the way huggingface_hub 2.x writes it
(``file_download.py`` / ``_snapshot_download.py`` / ``_tree_cache.py``), for offline tests::

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
from pathlib import Path

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
