"""A teacher client in its own process, for tests of what one process cannot show: peak
memory (VmHWM of a fresh process) and several processes sharing one cache.

``python tests/support/teacher_calls.py URL CACHE_DIR TEXT...`` sends one rewrite per TEXT
concurrently (after one warm-up call, when ``--warm-up``) and prints one JSON line: per text
``{"text", "cached"}`` or ``{"reason"}``, the peak RSS before and after the calls (KiB), and
the seconds the calls took. ``--cap`` sets ``max_response_bytes``; ``--go FILE`` writes
``FILE.ready-<pid>`` and waits for FILE to exist before the calls, so several processes start
them together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from vlaa.data.llm_teacher import LLMTeacher, LLMTeacherConfig, TeacherCallError, TeacherEndpoint


def peak_rss_kib() -> int:
    """VmHWM: this process's peak resident set size so far."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


async def _one(teacher: LLMTeacher, text: str) -> dict[str, Any]:
    try:
        result = await teacher.rewrite(text)
    except TeacherCallError as error:
        return {"reason": error.reason, "detail": error.detail}
    return {"text": result.text, "cached": result.cached}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    endpoint = TeacherEndpoint(
        base_url=args.url,
        model="double-1",
        max_concurrency=args.concurrency,
        max_attempts=2,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        timeout_s=args.timeout,
        max_response_bytes=args.cap,
    )
    config = LLMTeacherConfig.for_all_steps(endpoint, args.cache_dir)
    async with LLMTeacher(config) as teacher:
        if args.warm_up:
            await _one(teacher, f"warm-up {time.time()}")
        if args.go is not None:
            Path(f"{args.go}.ready-{os.getpid()}").touch()
            while not Path(args.go).exists():
                await asyncio.sleep(0.01)
        before = peak_rss_kib()
        started = time.perf_counter()
        results = await asyncio.gather(*(_one(teacher, text) for text in args.texts))
        seconds = time.perf_counter() - started
    return {
        "results": results,
        "peak_rss_before_kib": before,
        "peak_rss_after_kib": peak_rss_kib(),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("cache_dir")
    parser.add_argument("texts", nargs="+")
    parser.add_argument("--cap", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warm-up", action="store_true")
    parser.add_argument("--go", default=None, help="start the calls once this file exists")
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
