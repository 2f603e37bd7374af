"""Cross-process claims on cache keys, so builds sharing one cache pay each call once.

Before a process sends a request whose reply is not cached it claims the key: an exclusive
byte-range lock of one byte (offset from the key's hash) on one claims file beside the cache.
A second process finding the key claimed waits and polls the cache for the first one's reply
(``ChatClient._claim``). The kernel drops the locks of a process that dies, even by SIGKILL,
so a crashed build never blocks the next one and no lease has to be renewed.

Linux open-file-description locks (``F_OFD_SETLK``, fcntl(2)) are used because they belong to
the open file, not to the process: two clients in one process exclude each other too, and
closing some other descriptor of the file keeps them (plain POSIX ``lockf`` locks would be
dropped). Elsewhere ``lockf`` is the fallback (then only processes exclude each other). Like
SQLite's WAL mode, this needs the processes on one machine (a ReadWriteOnce volume).
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

_OFD_SETLK: int | None = getattr(fcntl, "F_OFD_SETLK", None)
# struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
# (l_pid must be 0 for OFD locks), padded to its 32-byte size.
_FLOCK = "hhqqi4x"


def key_offset(key: str) -> int:
    """The byte locked for ``key`` (a sha256 hex digest): its first 60 bits, below off_t's max."""
    return int(key[:15], 16)


class Claims:
    """Exclusive, non-blocking claims on keys; held until ``release`` or process exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._held: set[str] = set()

    def try_claim(self, key: str) -> bool:
        """True when this claims object now holds ``key``; False when someone else does."""
        if key in self._held:
            return True
        try:
            self._lock(key_offset(key), fcntl.F_WRLCK)
        except (BlockingIOError, PermissionError):  # EAGAIN / EACCES: held elsewhere
            return False
        self._held.add(key)
        return True

    def release(self, key: str) -> None:
        if key in self._held:
            self._held.discard(key)
            self._lock(key_offset(key), fcntl.F_UNLCK)

    def _lock(self, offset: int, kind: int) -> None:
        if _OFD_SETLK is not None:
            fcntl.fcntl(self._fd, _OFD_SETLK, struct.pack(_FLOCK, kind, os.SEEK_SET, offset, 1, 0))
        else:  # pragma: no cover - not Linux
            mode = fcntl.LOCK_UN if kind == fcntl.F_UNLCK else fcntl.LOCK_EX | fcntl.LOCK_NB
            fcntl.lockf(self._fd, mode, 1, offset, os.SEEK_SET)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases every lock of this open file
            self._fd = -1
            self._held.clear()
