"""`vlaa run --local` reports a failing task at once (no cluster retries) in one clean line,
without KFP's executor chatter (issue 16)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlaa.pipelines.local_run import built_for_local
from vlaa.pipelines.quiet import ExecutorLogFilter
from vlaa.pipelines.sft_vs_rl import vlaa_sft_vs_rl
from vlaa.pipelines.vlaa_thinker import vlaa_thinker


def _retry_counts(pipeline: object) -> list[int]:
    spec = pipeline.pipeline_spec  # type: ignore[attr-defined]
    dags = [spec.root.dag, *(c.dag for c in spec.components.values() if c.HasField("dag"))]
    return [t.retry_policy.max_retry_count for d in dags for t in d.tasks.values()]


@pytest.mark.parametrize("pipeline", [vlaa_thinker, vlaa_sft_vs_rl], ids=lambda p: p.name)
def test_the_local_build_has_no_retries_and_the_cluster_build_keeps_them(pipeline: object) -> None:
    assert max(_retry_counts(pipeline)) > 0  # what gets compiled for the cluster
    local = built_for_local(pipeline)  # type: ignore[arg-type]
    assert set(_retry_counts(local)) == {0}
    assert local.pipeline_spec.pipeline_info.name == pipeline.pipeline_spec.pipeline_info.name  # type: ignore[attr-defined]


def test_the_filter_drops_the_executor_log_and_its_json_but_keeps_the_rest() -> None:
    # The shape kfp/dsl/executor_main.py logs and kfp/local's indented print passes on.
    streamed = (
        "    [KFP Executor 2026-01-01 10:00:00,001 INFO]: Looking for component `prepare`\n"
        "    [KFP Executor 2026-01-01 10:00:00,002 INFO]: Got executor_input:\n"
        "    {\n"
        '        "inputs": {\n'
        '            "parameterValues": {"data": {}}\n'
        "        }\n"
        "    }\n"
        "    Writing model shards: 100%\n"
        "    [vlaa] stage prepare done\n"
        "    [KFP Executor 2026-01-01 10:00:05,000 INFO]: Wrote executor output file to /x.\n"
        "after"
    )
    out = io.StringIO()
    stream = ExecutorLogFilter(out)
    for start in range(0, len(streamed), 7):  # arrives in arbitrary pieces
        stream.write(streamed[start : start + 7])
    stream.flush()
    assert out.getvalue() == "    Writing model shards: 100%\n    [vlaa] stage prepare done\nafter"


@pytest.mark.slow
def test_a_missing_data_path_fails_fast_with_one_line(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("data: {source: /nonexistent/records}\n")
    command = [sys.executable, "-m", "vlaa.cli", "run", "--local", "--params", str(params)]
    started = time.monotonic()
    result = subprocess.run(
        [*command, "--output", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "60"},  # a narrow terminal still gets one line
    )
    seconds = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == (
        "error: stage build_dataset: source '/nonexistent/records' is neither 'synthetic' nor "
        "a folder holding records.jsonl"
    ), result.stdout[-2000:]
    assert seconds < 60, seconds  # the cluster's retry back-off alone is 30 s + 60 s
    assert "KFP Executor" not in result.stdout
    assert "Writing model shards" not in result.stdout  # prepare's save bar
    assert "Traceback" not in result.stdout + result.stderr
