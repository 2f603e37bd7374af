"""A persistent cache of successful teacher responses, so a resumed build never pays twice.

SQLite in WAL mode, one row per key, autocommit: every ``put`` is committed before it returns,
so a SIGKILL loses at most the calls still in flight (WAL with ``synchronous=NORMAL`` survives
a process crash; only an OS crash may lose the last commits). Failures are never stored.

The key is ``sha256(model, step, prompt version, input hash)``; the input hash covers the whole
request body except the model: messages (an ``InlineImage`` counts by the sha256 of its bytes,
so the image is never base64-encoded to look it up) and generation settings (temperature,
max_tokens, extra fields), since changing those changes the answer.

Meant for one writer process (the dataset builder); calls are synchronous and short (a primary
key read or one small insert), so they run on the event loop without an executor.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlaa.data.llm_teacher.prompts import InlineImage

CACHE_FILE = "teacher-cache.sqlite3"
SCHEMA_VERSION = 1

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


class CacheError(RuntimeError):
    """The cache file cannot be opened or used; the message names the file."""


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
    """Successful responses by key, with hit and miss counters for this process."""

    def __init__(self, cache_dir: Path | str) -> None:
        self.path = Path(cache_dir) / CACHE_FILE
        self.hits = 0
        self.misses = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit (isolation_level=None): each insert is its own committed transaction.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as error:
            raise CacheError(f"cannot open the teacher cache {self.path}: {error}") from error

    def get(self, key: str) -> CachedResponse | None:
        row = self._db.execute(
            "SELECT text, reasoning, usage FROM responses WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
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
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                step,
                model,
                prompt_version,
                text,
                reasoning,
                json.dumps(usage) if usage is not None else None,
                time.time(),
            ),
        )

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(count)

    def counters(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}

    def close(self) -> None:
        self._db.close()
