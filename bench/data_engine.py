"""Data engine throughput: the streamed import of a released VLAA-Thinking file, and teacher calls.

Part ``import``: writes a release-format file of ``--size-mb`` (default 600 MB, the size of the
real ``VLAA-Thinking-SFT-126K.json``, 623 MB) as a JSON array into a temporary folder (with
``--jsonl`` also as JSON lines), then, in a fresh child process, streams every row of
``open_release`` as the dataset builder iterates them, and reports records, seconds, records/s,
MB/s (10^6 bytes of file per second) and the child's peak RSS (``ru_maxrss``) against a 1 GiB
target. The child imports only the reader, so its RSS is the reader's. The files are deleted
afterwards.

Part ``teacher``: the whole build (validate, caption, reason, rewrite, verify, split) of
``--records`` synthetic records with the LLM teacher against the loopback OpenAI double
(``tests/doubles/openai_api.py``, a separate process) answering every call after a fixed
``--latency`` (default 0.2 s), all four steps on one endpoint with ``--concurrency`` C
(default 64). The bound is C / latency calls per second (C concurrent calls, each taking the
latency); the report gives the calls the double answered per second between the first and
the last arrival, their ratio to the bound (target at least 0.9 at C = 64), and records/s
(4 calls each). Every record's reasoning differs, so no call is served from the cache.

Results merge into ``bench/results/data_engine.json`` (one key per part) with the machine.
Usage: ``python bench/data_engine.py [--part import|teacher|all] [--size-mb 600] [--jsonl]
[--workdir DIR] [--output FILE]``. Needs about ``--size-mb`` of free disk per format.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "data_engine.json"
TARGET_PEAK_RSS_BYTES = 2**30
MB = 10**6
STREAM_CHILD_FLAG = "--stream-child"
# The loopback OpenAI double and the release-file writer are test code, outside the package.
TESTS = Path(__file__).resolve().parents[1] / "tests"


def tests_on_path() -> None:
    """Make ``doubles`` / ``fixtures`` importable, as pytest does (tests/ holds its conftest)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports ru_maxrss in KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def stream_child(root: Path) -> dict[str, Any]:
    """In the child: iterate every row of the release at ``root``; counts, time, peak RSS."""
    from vlaa.data.sources.base import SourceSpec
    from vlaa.data.sources.release import open_release

    reader = open_release(SourceSpec(kind="release", path=str(root)), root)
    rss_before = peak_rss_bytes()
    problems: Counter[str] = Counter()
    rows = 0
    started = time.perf_counter()
    for row in reader.rows:
        rows += 1
        if row.problem is not None:
            problems[row.problem[0]] += 1
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "problems": dict(problems),
        "seconds": seconds,
        "peak_rss_before_rows_bytes": rss_before,
        "peak_rss_bytes": peak_rss_bytes(),
    }


def time_import(root: Path, file_bytes: int) -> dict[str, Any]:
    """Stream the release at ``root`` in a fresh process and report its numbers."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, __file__, STREAM_CHILD_FLAG, str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"the import child failed:\n{completed.stderr[-4000:]}")
    child = json.loads(completed.stdout.strip().splitlines()[-1])
    seconds = child["seconds"]
    return {
        "records": child["rows"],
        "problems": child["problems"],
        "file_bytes": file_bytes,
        "seconds": round(seconds, 3),
        "records_per_second": round(child["rows"] / seconds, 1),
        "mb_per_second": round(file_bytes / MB / seconds, 1),
        "child_wall_seconds": round(wall, 3),
        "peak_rss_bytes": child["peak_rss_bytes"],
        "peak_rss_mib": round(child["peak_rss_bytes"] / 2**20, 1),
        "peak_rss_before_rows_mib": round(child["peak_rss_before_rows_bytes"] / 2**20, 1),
        "within_target": child["peak_rss_bytes"] < TARGET_PEAK_RSS_BYTES,
    }


def run_import(size_mb: int, jsonl: bool, workdir: Path | None) -> dict[str, Any]:
    """Part ``import``: generate, stream in a child, delete; one entry per file format."""
    tests_on_path()
    from fixtures.release_files import write_release_file

    from vlaa.data.sources.release import SFT_FILE

    formats = ["array", "jsonl"] if jsonl else ["array"]
    results: dict[str, Any] = {}
    for fmt in formats:
        with tempfile.TemporaryDirectory(prefix="vlaa-data-engine-", dir=workdir) as tmp:
            path = Path(tmp) / SFT_FILE
            started = time.perf_counter()
            written = write_release_file(path, size_mb * MB, fmt=fmt)  # type: ignore[arg-type]
            generate_seconds = time.perf_counter() - started
            file_bytes = path.stat().st_size
            print(f"{fmt}: wrote {written:,} records, {file_bytes / MB:,.0f} MB", flush=True)
            result = time_import(Path(tmp), file_bytes)
        if result["records"] != written:
            raise RuntimeError(f"{fmt}: wrote {written} records but imported {result['records']}")
        result["generate_seconds"] = round(generate_seconds, 3)
        result["generate_mb_per_second"] = round(file_bytes / MB / generate_seconds, 1)
        results[fmt] = result
    return {
        "unit": "rows streamed by open_release in a fresh process (every row, as the builder)",
        "target_peak_rss_bytes": TARGET_PEAK_RSS_BYTES,
        "formats": results,
    }


def _scripted_source(root: Path, count: int) -> Path:
    """Synthetic records whose questions tell the double the answer (its default_answer)."""
    from vlaa.data.synthetic import SyntheticConfig, generate
    from vlaa.records import write_records

    records = []
    for index, (record, _) in enumerate(
        generate(SyntheticConfig(num_samples=count, seed=3), root / "images")
    ):
        marks = f"[[answer:{record.answer_text()}]] [[think:I count the objects of scene {index}.]]"
        records.append(record.model_copy(update={"question": f"{record.question} {marks}"}))
    write_records(root / "records.jsonl", records)
    return root


def run_teacher(args: argparse.Namespace) -> dict[str, Any]:
    """Part ``teacher``: build throughput against the loopback teacher at a fixed latency."""
    tests_on_path()
    from doubles.openai_api import DoubleConfig, DoubleProcess

    from vlaa.data.config import BuildDatasetConfig
    from vlaa.data.engine import build_dataset

    concurrency, latency = args.concurrency, args.latency
    with (
        tempfile.TemporaryDirectory(dir=args.workdir) as scratch,
        DoubleProcess(DoubleConfig(latency_s=latency)) as double,
    ):
        work = Path(scratch)
        source = _scripted_source(work / "source", args.records)
        endpoint = {"base_url": double.url, "model": "bench", "max_concurrency": concurrency}
        steps = ("caption", "reason", "rewrite", "verify")
        config = BuildDatasetConfig(
            source=str(source),
            eval_size=1,
            teacher="llm",
            llm_teacher={**dict.fromkeys(steps, endpoint), "cache_dir": str(work / "cache")},
            max_in_flight=4 * concurrency,
        )
        started = time.perf_counter()
        card = build_dataset(
            config, *(work / "out" / name for name in ("sft", "rl", "eval", "card"))
        )
        seconds = time.perf_counter() - started
        stats = double.stats()
    arrivals = stats["arrivals"]
    span = max(arrivals) - min(arrivals) + latency  # the last call still takes the latency
    calls_per_second = stats["answered"] / span
    bound = concurrency / latency
    distilled = args.records - 1
    return {
        "records": args.records,
        "concurrency": concurrency,
        "latency_s": latency,
        "calls_answered": stats["answered"],
        "max_in_flight_seen": stats["max_in_flight"],
        "teacher_span_seconds": round(span, 2),
        "calls_per_second": round(calls_per_second, 1),
        "bound_calls_per_second": bound,
        "ratio_to_bound": round(calls_per_second / bound, 3),
        "target_ratio": 0.9,
        "records_per_second": round(distilled / span, 1),
        "build_seconds": round(seconds, 2),
        "kept": card.splits,
        "dropped": card.dropped,
    }


def print_teacher(result: dict[str, Any]) -> None:
    print(
        f"teacher: {result['calls_answered']} calls in {result['teacher_span_seconds']} s = "
        f"{result['calls_per_second']} calls/s; bound C/latency = "
        f"{result['bound_calls_per_second']:.0f} calls/s; ratio {result['ratio_to_bound']} "
        f"(target {result['target_ratio']}); {result['records_per_second']} records/s; "
        f"whole build {result['build_seconds']} s"
    )


def print_import(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Streamed release import (one process, every row)")
    columns = ("format", "records", "MB", "seconds", "records/s", "MB/s", "peak RSS MiB", "target")
    for column in columns:
        table.add_column(column, justify="left" if column == "format" else "right")
    for fmt, r in result["formats"].items():
        ok = "[green]< 1 GiB[/]" if r["within_target"] else "[red]>= 1 GiB[/]"
        table.add_row(
            fmt,
            f"{r['records']:,}",
            f"{r['file_bytes'] / MB:,.0f}",
            f"{r['seconds']:.1f}",
            f"{r['records_per_second']:,.0f}",
            f"{r['mb_per_second']:.1f}",
            f"{r['peak_rss_mib']:.0f}",
            ok,
        )
    Console(width=120).print(table)


def write_report(output: Path, parts: dict[str, Any]) -> None:
    """Merge ``parts`` into ``output`` (parts run earlier stay) with this machine."""
    from machine_info import machine

    report = json.loads(output.read_text()) if output.is_file() else {}
    report.update(benchmark="data_engine", **parts)
    report["machine"] = machine()
    report["date"] = time.strftime("%Y-%m-%d")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {output}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == STREAM_CHILD_FLAG:
        print(json.dumps(stream_child(Path(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("import", "teacher", "all"), default="all")
    parser.add_argument("--size-mb", type=int, default=600, help="release file size (10^6 B)")
    parser.add_argument("--jsonl", action="store_true", help="also time a JSON-lines file")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the temp files")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    parser.add_argument("--records", type=int, default=1000, help="teacher part: records")
    parser.add_argument("--concurrency", type=int, default=64, help="teacher part: C")
    parser.add_argument("--latency", type=float, default=0.2, help="teacher part: seconds")
    args = parser.parse_args()
    parts = ("import", "teacher") if args.part == "all" else (args.part,)
    for part in parts:
        if part == "import":
            result = run_import(args.size_mb, args.jsonl, args.workdir)
            print_import(result)
        else:
            result = run_teacher(args)
            print_teacher(result)
        write_report(args.output, {part: result})


if __name__ == "__main__":
    main()
