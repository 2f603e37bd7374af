"""The local-folder :class:`~vlaa.storage.base.ObjectStore`: key ``a/b`` is the file ``root/a/b``.

Atomic ``put``: each write goes to a temporary file beside the target, is fsynced, then
``os.replace``-d over it, so a reader never sees a partial file. Conditional writes hold across
processes: a create-if-absent hard-links the finished temporary file to the target name (the
kernel refuses an existing name, as ``O_EXCL`` would, but the file is complete once visible);
a compare-and-swap runs under an exclusive ``flock`` on a hidden lock file beside the target.
Both need a local POSIX filesystem (NFS locks are advisory at best).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from vlaa.storage.base import TEMP_PREFIX, ObjectNotFoundError, check_key, file_sha256


class LocalStore:
    """An :class:`ObjectStore` on a local folder: key ``a/b`` is the file ``root/a/b``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def put_file(self, key: str, local_path: Path, sha256: str | None = None) -> None:
        # A local copy needs no checksum metadata: sha256() reads the file when asked.
        with Path(local_path).open("rb") as source:
            self._write_atomically(key, lambda target: shutil.copyfileobj(source, target))

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write_atomically(key, lambda target: target.write(data))

    def sha256(self, key: str) -> str | None:
        """SHA-256 (hex) of the object, or ``None`` if there is none (optional store method)."""
        path = self._path(key)
        if not path.is_file():
            return None
        return file_sha256(path)[0]

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise ObjectNotFoundError(f"no object {key!r} in {self!r}") from error

    def get_file(self, key: str, local_path: Path) -> None:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"no object {key!r} in {self!r}")
        shutil.copyfile(path, local_path)

    def list(self, prefix: str = "") -> list[str]:
        # Walk only the deepest folder the prefix fully names, not the whole store.
        folder = prefix.rpartition("/")[0]
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        if not start.is_dir():
            return []
        keys = []
        for directory, subdirs, files in os.walk(start):
            subdirs[:] = [name for name in subdirs if not name.startswith(TEMP_PREFIX)]
            relative = Path(directory).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    # ------------------------------------------------------------------ ConditionalStore

    def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        temp_name = self._write_temp(path, lambda target: target.write(data))
        try:
            os.link(temp_name, path)  # atomic; fails if the name exists
        except FileExistsError:
            return False
        finally:
            Path(temp_name).unlink(missing_ok=True)
        return True

    def get_bytes_tagged(self, key: str) -> tuple[bytes, str]:
        data = self.get_bytes(key)
        return data, hashlib.sha256(data).hexdigest()

    def put_bytes_if_tag(self, key: str, data: bytes, tag: str) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(f"{TEMP_PREFIX}lock-{path.name}")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            try:
                current = path.read_bytes()
            except FileNotFoundError:
                return False
            if hashlib.sha256(current).hexdigest() != tag:
                return False
            self._write_atomically(key, lambda target: target.write(data))
            return True

    # ------------------------------------------------------------------ helpers

    def _write_atomically(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        """Write into a temporary file beside the target, fsync it, then ``os.replace`` it."""
        path = self._path(key)
        temp_name = self._write_temp(path, write)
        try:
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    @staticmethod
    def _write_temp(path: Path, write: Callable[[BinaryIO], object]) -> str:
        """A complete, fsynced temporary file beside ``path``; its name."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as target:
                write(target)
                target.flush()
                os.fsync(target.fileno())
            os.chmod(temp_name, 0o644)  # mkstemp creates 0600; published files are shared
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return temp_name
