"""Copy model files while checksumming them, and the digest of a whole model folder.

Every fetched file is hashed as it is written (one read): SHA-256 always, plus MD5 (an S3
single-part ETag) or the git blob SHA-1 (the Hub's id of a non-LFS file) when a source
records those instead. The folder digest is the SHA-256 of the ``sha256sum``-format lines
(``<sha256>  <path>``, sorted by path): ``sha256sum`` over the files reproduces it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20  # 1 MiB: model shards are gigabytes


@dataclass(frozen=True)
class FileDigests:
    size: int
    sha256: str
    md5: str = ""
    git_sha1: str = ""


def copy_hashed(
    source: Path, target: Path, *, md5: bool = False, git_sha1: bool = False
) -> FileDigests:
    """Copy ``source`` (symlinks followed) to ``target`` and return its digests."""
    size = source.stat().st_size
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader, target.open("wb") as writer:
        digests = _hash_stream(_chunks(reader), size, md5, git_sha1, writer)
    shutil.copymode(source, target)
    return digests


def hash_file(path: Path, *, md5: bool = False, git_sha1: bool = False) -> FileDigests:
    size = path.stat().st_size
    with path.open("rb") as reader:
        return _hash_stream(_chunks(reader), size, md5, git_sha1, None)


def multipart_md5(path: Path, part_size: int) -> str:
    """An S3 multipart ETag's digest part: MD5 of the concatenated MD5s of each part."""
    part_digests = b""
    with path.open("rb") as reader:
        while part := reader.read(part_size):
            part_digests += hashlib.md5(part, usedforsecurity=False).digest()
    return hashlib.md5(part_digests, usedforsecurity=False).hexdigest()


def folder_digest(sha256_by_path: dict[str, str]) -> str:
    lines = "".join(f"{sha256_by_path[path]}  {path}\n" for path in sorted(sha256_by_path))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def hash_folder(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder``."""
    return {
        path.relative_to(folder).as_posix(): hash_file(path).sha256
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def fresh_folder(folder: Path) -> Path:
    """An empty ``folder`` (a retried task finds the previous attempt's files there)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    while chunk := reader.read(CHUNK):
        yield chunk


def _hash_stream(
    chunks: Iterable[bytes], size: int, md5: bool, git_sha1: bool, writer: BinaryIO | None
) -> FileDigests:
    sha256 = hashlib.sha256()
    md5_hash = hashlib.md5(usedforsecurity=False) if md5 else None
    # git's blob id: SHA-1 over "blob <size>\0" + content (git-hash-object).
    sha1 = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False) if git_sha1 else None
    for chunk in chunks:
        sha256.update(chunk)
        if md5_hash:
            md5_hash.update(chunk)
        if sha1:
            sha1.update(chunk)
        if writer is not None:
            writer.write(chunk)
    return FileDigests(
        size=size,
        sha256=sha256.hexdigest(),
        md5=md5_hash.hexdigest() if md5_hash else "",
        git_sha1=sha1.hexdigest() if sha1 else "",
    )
