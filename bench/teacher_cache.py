"""Teacher cache costs: opening a large cache (SQLite ``PRAGMA quick_check``) and the
per-call work of the cross-process claim.

Part 1 writes a cache of ``--rows`` replies of ``--text-bytes`` each (default 200,000 x 2,500
bytes, about the size of a full VLAA-Thinking build's reasoning replies) into a temporary
folder, then times ``ResponseCache(...)`` (open + quick_check) cold-ish (after the write) and
warm (a second open). Part 2 times ``--calls`` misses through the claim path as the client
runs it (claim, re-read, insert, release) against plain inserts, in microseconds per call.

Results go to ``bench/results/teacher_cache.json`` with the machine.
Usage: ``python bench/teacher_cache.py [--rows 200000] [--text-bytes 2500] [--calls 20000]``.
Needs about rows x text-bytes of free disk.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from vlaa.data.llm_teacher.cache import CACHE_FILE, ResponseCache

RESULTS = Path(__file__).parent / "results" / "teacher_cache.json"


def _key(index: int, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{index}".encode()).hexdigest()


def fill(folder: Path, rows: int, text_bytes: int) -> int:
    cache = ResponseCache(folder)
    text = ("lorem ipsum dolor sit amet " * (text_bytes // 27 + 1))[:text_bytes]
    batch = [
        (_key(i, "fill"), "reason", "m", "reason-v1", f"{i} {text}", None, None, time.time())
        for i in range(rows)
    ]
    db = cache._db  # one transaction: filling is setup, not what is measured
    db.execute("BEGIN")
    db.executemany("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
    db.execute("COMMIT")
    cache.close()
    return (folder / CACHE_FILE).stat().st_size


def time_open(folder: Path) -> float:
    started = time.perf_counter()
    ResponseCache(folder).close()
    return time.perf_counter() - started


def per_call_us(folder: Path, calls: int, claimed: bool) -> float:
    cache = ResponseCache(folder)
    salt = f"calls-{claimed}"
    started = time.perf_counter()
    for i in range(calls):
        key = _key(i, salt)
        cache.get(key)
        if claimed:
            assert cache.claims.try_claim(key)
            cache.get(key, count=False)
        cache.put(key, step="rewrite", model="m", prompt_version="v", text="t" * 300,
                  reasoning=None, usage={"total_tokens": 80})  # fmt: skip
        if claimed:
            cache.claims.release(key)
    seconds = time.perf_counter() - started
    cache.close()
    return seconds / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--text-bytes", type=int, default=2500)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from machine_info import machine

    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="vlaa-cache-bench-") as tmp:
        folder = Path(tmp)
        size = fill(folder, args.rows, args.text_bytes)
        first_open = time_open(folder)
        second_open = time_open(folder)
        plain = per_call_us(folder, args.calls, claimed=False)
        with_claim = per_call_us(folder, args.calls, claimed=True)
    result: dict[str, Any] = {
        "rows": args.rows,
        "file_bytes": size,
        "open_with_quick_check_s": round(first_open, 3),
        "open_again_s": round(second_open, 3),
        "miss_us_plain": round(plain, 1),
        "miss_us_with_claim": round(with_claim, 1),
        "machine": machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
