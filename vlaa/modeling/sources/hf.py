"""``hf://ORG/NAME[@REVISION]``: a Hugging Face Hub snapshot, through huggingface_hub.

``snapshot_download`` fills the cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``: on the cluster a
PVC mounted in prepare's pod, so a model is downloaded once), resumes interrupted downloads,
and in offline mode (``HF_HUB_OFFLINE=1``) serves only what the cache holds. The token comes
from ``HF_TOKEN`` (a Kubernetes Secret exposed as env), read by huggingface_hub itself.

Checked: every file copied out of the snapshot is hashed and compared with the id the Hub
gives it (huggingface_hub 2.x, ``_snapshot_download.py`` / ``_tree_cache.py``): the SHA-256 of
an LFS file (``lfs.sha256``) and the git blob SHA-1 of any other file (``blob_id``), from the
tree listing cached at ``trees/<commit>.json``; a cache without that listing (written by older
huggingface_hub) still names each blob file by its ETag, which is the same SHA-256 / SHA-1
(``file_download.py``: ``blobs/<etag>``), so those are checked instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from vlaa.modeling.sources.errors import (
    ChecksumMismatchError,
    CredentialsRefusedError,
    ModelNotFoundError,
)
from vlaa.modeling.sources.files import copy_hashed, folder_digest, fresh_folder
from vlaa.modeling.sources.uri import ModelSource

log = logging.getLogger(__name__)

DEFAULT_REVISION = "main"
# Weights in other formats are never loaded here (transformers reads *.safetensors, *.bin).
IGNORE_PATTERNS = ["*.gguf", "*.onnx", "*.h5", "*.msgpack", "*.ot", "*.pt", "*.pth", "original/*"]
SHA256_RE = re.compile(r"[0-9a-f]{64}")
SHA1_RE = re.compile(r"[0-9a-f]{40}")
TRUE = {"1", "ON", "YES", "TRUE"}
TREE_FORMAT = 1


def hub_cache_dir() -> Path | None:
    """The cache huggingface_hub uses (constants.py), read now rather than at its import."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return None


def offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) as huggingface_hub reads it."""
    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return flag.upper() in TRUE


def fetch_hf(source: ModelSource, output_dir: Path) -> dict[str, Any]:
    """Download (or find in the cache) the snapshot, copy it to ``output_dir`` checked; lineage."""
    snapshot = _snapshot(source)
    commit = snapshot.name  # snapshots/<commit hash>
    expected = _expected_ids(commit, snapshot)
    fresh_folder(output_dir)
    sha256_by_path: dict[str, str] = {}
    verified = 0
    for path in sorted(snapshot.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(snapshot).as_posix()
        kind, wanted = expected.get(relative, ("", ""))
        digests = copy_hashed(path, output_dir / relative, git_sha1=kind == "git-sha1")
        got = digests.git_sha1 if kind == "git-sha1" else digests.sha256
        if kind and got != wanted:
            raise ChecksumMismatchError(
                f"{source.text}: {relative} in the Hugging Face cache fails its {kind} "
                f"({got} != {wanted}); delete {snapshot.parent.parent} and download again"
            )
        verified += bool(kind)
        sha256_by_path[relative] = digests.sha256
    unverified = sorted(set(sha256_by_path) - {p for p, (k, _) in expected.items() if k})
    if unverified:
        log.warning("%s: no recorded checksum for %s", source.text, ", ".join(unverified))
    return {
        "kind": "hf",
        "repo_id": source.repo_id,
        "revision": source.revision or DEFAULT_REVISION,
        "commit": commit,
        "files": len(sha256_by_path),
        "verified_files": verified,
        "sha256": folder_digest(sha256_by_path),
    }


def _snapshot(source: ModelSource) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    revision = source.revision or DEFAULT_REVISION
    cache = hub_cache_dir()
    where = f"the Hugging Face cache {cache or '(default)'}"
    try:
        return Path(
            snapshot_download(
                source.repo_id,
                revision=revision,
                cache_dir=cache,
                local_files_only=offline(),
                ignore_patterns=IGNORE_PATTERNS,
            )
        )
    except GatedRepoError:
        raise CredentialsRefusedError(
            f"{source.text}: the repo is gated; accept its terms on the Hub with the account "
            "whose token is in HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"{source.text}: repo {source.repo_id!r} not found on the Hub (or private: set "
            "HF_TOKEN to a token that can read it)"
        ) from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(
            f"{source.text}: revision {revision!r} not found in repo {source.repo_id!r}"
        ) from None
    except LocalEntryNotFoundError as error:
        if not _cached_repo(cache, source.repo_id).is_dir():
            missing = f"repo {source.repo_id!r} is not in {where}"
        else:
            missing = f"revision {revision!r} of {source.repo_id!r} is not (fully) in {where}"
        why = "HF_HUB_OFFLINE is set" if offline() else f"the Hub is unreachable ({error})"
        raise ModelNotFoundError(f"{source.text}: {missing} and {why}".splitlines()[0]) from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if status in (401, 403):
            raise CredentialsRefusedError(
                f"{source.text}: the Hub refused the credentials (HTTP {status}); check HF_TOKEN"
            ) from None
        raise


def _cached_repo(cache: Path | None, repo_id: str) -> Path:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    root = cache or Path(constants.HF_HUB_CACHE)
    return root / repo_folder_name(repo_id=repo_id, repo_type="model")


def _expected_ids(commit: str, snapshot: Path) -> dict[str, tuple[str, str]]:
    """Relative path -> ("sha256" | "git-sha1", expected hex) for each file with a known id.

    The tree listing is read from its documented on-disk form (huggingface_hub
    ``_tree_cache.py``: ``{"format_version": 1, "files": {path: {"blob_id", "lfs_sha256"}}}``):
    the public ``get_cached_repo_tree`` drops ``lfs_sha256``.
    """
    listing = snapshot.parents[1] / "trees" / f"{commit}.json"
    try:
        tree = json.loads(listing.read_text(encoding="utf-8"))
        if tree.get("format_version") == TREE_FORMAT:
            return {
                path: ("sha256", info["lfs_sha256"])
                if info.get("lfs_sha256")
                else ("git-sha1", info["blob_id"])
                for path, info in tree["files"].items()
            }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no (readable) listing: fall back to the blob names
    expected = {}
    for path in snapshot.rglob("*"):
        if path.is_symlink() and path.is_file():
            blob = path.resolve().name  # blobs/<etag>
            if SHA256_RE.fullmatch(blob):
                expected[path.relative_to(snapshot).as_posix()] = ("sha256", blob)
            elif SHA1_RE.fullmatch(blob):
                expected[path.relative_to(snapshot).as_posix()] = ("git-sha1", blob)
    return expected
