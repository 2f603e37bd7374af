"""A persistent cache of successful teacher responses, so a resumed build never pays twice.

SQLite in WAL mode, one row per key, autocommit: every ``put`` is committed before it returns,
so a SIGKILL loses at most the calls still in flight (WAL with ``synchronous=NORMAL`` survives
a process crash; only an OS crash may lose the last commits). Failures are never stored.

The key is ``sha256(model, step, prompt version, input hash)``; the input hash covers the whole
request body except the model: messages (an ``InlineImage`` counts by the sha256 of its bytes,
so the image is never base64-encoded to look it up) and generation settings (temperature,
max_tokens, extra fields), since changing those changes the answer.

Several builds may share one cache (on one machine): ``claims`` (``claims.py``) lets only one
of them pay for a key while the others wait for its row. Opening runs SQLite's
``PRAGMA quick_check``, so a damaged file stops the build at start with one ``CacheError``
naming it (or, with ``rebuild=True``, is moved aside and a fresh cache started); a database
error later is a ``CacheError`` naming the file as well. Calls are synchronous and short (a
primary key read or one small insert), so they run on the event loop without an executor.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlaa.data.llm_teacher.claims import Claims
from vlaa.data.llm_teacher.prompts import InlineImage
from vlaa.errors import UserError

logger = logging.getLogger(__name__)

CACHE_FILE = "teacher-cache.sqlite3"
CLAIMS_FILE = "teacher-cache.claims"
SCHEMA_VERSION = 1
# What SQLite says about a file it cannot read as a database (sqlite3.c error strings).
_DAMAGED = ("malformed", "not a database", "corrupt")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    step TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    text TEXT NOT NULL,
    reasoning TEXT,
    usage TEXT,
    created_at REAL NOT NULL
)
"""


class CacheError(UserError, RuntimeError):
    """The cache file cannot be opened or used; the message names the file and what to do."""


class UnstorableReply(ValueError):
    """A reply this cache cannot hold (text SQLite refuses); its record is dropped."""


@dataclass(frozen=True)
class CachedResponse:
    text: str
    reasoning: str | None
    usage: dict[str, Any] | None


def _hashable(value: object) -> object:
    if isinstance(value, InlineImage):
        return {"image_sha256": value.sha256, "mime": value.mime}
    raise TypeError(f"cannot hash a {type(value).__name__} in a request")


def input_hash(request: dict[str, Any]) -> str:
    """sha256 of a request body in canonical JSON (sorted keys), images by their bytes' hash."""
    canonical = json.dumps(
        request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_hashable
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cache_key(model: str, step: str, prompt_version: str, request_hash: str) -> str:
    # NUL cannot occur in the parts (model ids, step names, versions, hex), so no ambiguity.
    payload = "\0".join((model, step, prompt_version, request_hash))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    """Successful responses by key, with hit and miss counters for this process.

    ``rebuild``: a damaged file is renamed to ``<file>.damaged-<time>`` and a fresh cache
    started in its place (every call is paid again), instead of raising ``CacheError``.
    """

    def __init__(self, cache_dir: Path | str, rebuild: bool = False) -> None:
        self.path = Path(cache_dir) / CACHE_FILE
        self.hits = 0
        self.misses = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.claims = Claims(self.path.parent / CLAIMS_FILE)
        except OSError as error:
            raise CacheError(f"cannot open the teacher cache {self.path}: {error}") from error
        try:
            self._db = self._open()
        except CacheError:
            if not rebuild or not self.path.exists():
                self.claims.close()
                raise
            aside = self._move_aside()
            logger.warning("the teacher cache %s was damaged: moved to %s", self.path, aside)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = None
        try:
            # Autocommit (isolation_level=None): each insert is its own committed transaction.
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # Every page read once (no index cross-check): seconds for a GB, not minutes.
            problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("malformed: " + "; ".join(problems))
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as error:
            if db is not None:
                db.close()
            raise self._error(error) from None
        return db

    def _error(self, error: BaseException) -> CacheError:
        text = str(error)
        if isinstance(error, sqlite3.DatabaseError) and any(w in text for w in _DAMAGED):
            return CacheError(
                f"the teacher cache {self.path} is damaged ({text.splitlines()[0][:200]}); "
                "delete it, or set llm_teacher.rebuild_cache: true (vlaa build-dataset "
                "--rebuild-teacher-cache) to move it aside and start a fresh one"
            )
        return CacheError(f"the teacher cache {self.path} failed: {text[:200]}")

    def _move_aside(self) -> Path:
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        self.path.rename(aside)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(self.path.name + suffix).unlink()
        return aside

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as error:  # damaged page, disk full, locked too long
            raise self._error(error) from None

    def get(self, key: str, count: bool = True) -> CachedResponse | None:
        with self._guard():
            row = self._db.execute(
                "SELECT text, reasoning, usage FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if count:
            self.hits += row is not None
            self.misses += row is None
        if row is None:
            return None
        text, reasoning, usage = row
        return CachedResponse(text, reasoning, json.loads(usage) if usage else None)

    def put(
        self,
        key: str,
        *,
        step: str,
        model: str,
        prompt_version: str,
        text: str,
        reasoning: str | None,
        usage: dict[str, Any] | None,
    ) -> None:
        row = (
            key,
            step,
            model,
            prompt_version,
            text,
            reasoning,
            json.dumps(usage) if usage is not None else None,
            time.time(),
        )
        with self._guard():
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
                )
            except (UnicodeEncodeError, OverflowError, sqlite3.DataError) as error:
                # Text SQLite cannot take (a lone surrogate, past its size limit): the reply
                # is dropped, the cache stays as it was.
                raise UnstorableReply(f"the cache cannot store the reply: {error}") from None

    def __len__(self) -> int:
        with self._guard():
            (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(count)

    def counters(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}

    def close(self) -> None:
        self._db.close()
        self.claims.close()
