"""The data build with LLM teachers over the OpenAI protocol, against a real HTTP server on
loopback (tests/doubles/openai_api.py) with latency and faults: every record ends in a split or in
the drops with the right reason, and a build killed with SIGKILL resumes with the same output
and no teacher call answered twice."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from doubles.openai_api import DoubleConfig, DoubleProcess, OpenAIDouble, default_answer

from vlaa.data.config import BuildDatasetConfig
from vlaa.data.datacard import DataCard
from vlaa.data.engine import build_dataset
from vlaa.data.llm_teacher.cache import CACHE_FILE
from vlaa.data.synthetic import SyntheticConfig, generate
from vlaa.records import read_records, write_records

SPLITS = ("sft", "rl", "eval")
PAD = " padding" * 20  # a rewrite that grows by 20 words breaks the 15-word limit


def _answer(step: str, messages: list[dict[str, Any]]) -> str:
    """The double's scripted answers plus one rewrite that changes too much."""
    text = default_answer(step, messages)
    if step == "rewrite" and "PAD-ME" in text:
        return text.replace("</think>", PAD + "</think>")
    return text


def _source(root: Path, count: int, plans: dict[int, str]) -> Path:
    """A records folder whose questions script the teacher: the right answer (default),
    ``wrong`` (verify says No), ``pad`` (rewrite too long), ``aha`` (RL split), or
    ``fault:<kind>`` (every call of the record fails that way)."""
    records = [r for r, _ in generate(SyntheticConfig(num_samples=count, seed=5), root / "images")]
    scripted = []
    for index, record in enumerate(records):
        plan = plans.get(index, "right")
        truth = record.answer_text()
        answer = "not " + truth if plan == "wrong" else truth
        think = "Wait, let me check again." if plan == "aha" else "I count the objects."
        if plan == "pad":
            think += " PAD-ME"  # in the reasoning, which is what the rewrite step gets
        marks = f"[[answer:{answer}]] [[think:{think}]]"
        if plan.startswith("fault:"):
            marks += f" [[{plan}]]"
        scripted.append(record.model_copy(update={"question": f"{record.question} {marks}"}))
    write_records(root / "records.jsonl", scripted)
    return root


def _teacher(url: str, cache_dir: Path, **endpoint: Any) -> dict[str, Any]:
    settings = {
        "base_url": url,
        "model": "double-1",
        "max_concurrency": 8,
        "max_attempts": 3,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 1.0,
        **endpoint,
    }
    steps = ("caption", "reason", "rewrite", "verify")
    return {**{step: settings for step in steps}, "cache_dir": str(cache_dir)}


def _config(source: Path, url: str, cache_dir: Path, **endpoint: Any) -> BuildDatasetConfig:
    return BuildDatasetConfig(
        source=str(source),
        eval_size=4,
        teacher="llm",
        llm_teacher=_teacher(url, cache_dir, **endpoint),
        max_drop_share=0.6,
    )


def _losses(out: Path, name: str) -> dict[str, dict[str, Any]]:
    lines = (out / "card" / name).read_text().splitlines()
    return {entry["id"]: entry for entry in map(json.loads, lines)}


def _ids(out: Path, split: str) -> list[str]:
    return [record.id for record in read_records(out / split / "records.jsonl")]


def test_faulty_teacher_drops_the_right_records_and_loses_none(tmp_path: Path) -> None:
    plans = {
        3: "wrong",
        5: "pad",
        7: "aha",
        8: "aha",
        11: "fault:500",
        12: "fault:429",
        13: "fault:timeout",
        14: "fault:not_json",
        15: "fault:empty_content",
    }
    source = _source(tmp_path / "source", 40, plans)
    # Latency, and a share of transient faults on every record that retries must absorb.
    double_config = DoubleConfig(
        latency_s=0.02,
        fault_rate=0.15,
        fault_kinds=["429", "500", "503", "no_choices"],
        hang_s=5.0,
    )
    with OpenAIDouble(double_config, answer=_answer) as double:
        out = tmp_path / "out"
        config = _config(source, double.url, tmp_path / "cache", max_attempts=6)
        dirs = [out / name for name in (*SPLITS, "card")]
        card = build_dataset(config, *dirs, run_id="llm-test")
        stats = double.stats()

    ids = [r.id for r in read_records(source / "records.jsonl")]
    drops = _losses(out, "drops.jsonl")
    kept = {split: _ids(out, split) for split in SPLITS}
    eval_ids = set(kept["eval"])
    expected = {
        3: ("verify", "verify_no"),
        5: ("rewrite", "rewrite_word_delta"),
        11: (None, "teacher_server_error"),
        12: (None, "teacher_rate_limited"),
        13: (None, "teacher_timeout"),
        14: (None, "teacher_malformed_response"),
        15: (None, "teacher_malformed_response"),
    }
    for index, (step, reason) in expected.items():
        if ids[index] in eval_ids:
            continue  # held out before any teacher call
        entry = drops[ids[index]]
        assert entry["reason"] == reason, entry
        assert step is None or entry["step"] == step
        if step is None:
            assert entry["step"] == "reason"  # the first call that carries the question
            assert entry["attempts"] == 6
    assert set(drops) == {ids[i] for i in expected} - eval_ids
    # None lost: every input record is in exactly one place.
    placed = [*kept["sft"], *kept["rl"], *kept["eval"], *drops]
    assert sorted(placed) == sorted(ids)
    assert card.original == 40 and card.unaccounted() == {}
    for index in (7, 8):
        assert ids[index] in kept["rl"] or ids[index] in eval_ids
    assert stats["faults"].get("503", 0) + stats["faults"].get("429", 0) > 0  # faults happened
    # Records keep their teacher's caption and a reasoning without any "caption" mention.
    for record in read_records(out / "sft" / "records.jsonl"):
        assert record.caption.startswith("Setting: a test image")
        assert record.meta["teacher"] == "llm"
        assert record.response.startswith("<think>") and "<answer>" in record.response
    teacher_stats = DataCard.read(out / "card").teacher["stats"]
    assert teacher_stats  # per-step calls, cache hits, attempts and latency are in the card


def _run_build(config_file: Path, out: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "vlaa.cli", "build-dataset", "--output", str(out)]
    command += ["--config", str(config_file)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cached_rows(cache_dir: Path) -> int:
    path = cache_dir / CACHE_FILE
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=5) as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _outputs(out: Path) -> dict[str, bytes]:
    files = [out / split / "records.jsonl" for split in SPLITS]
    files += [out / "card" / name for name in ("drops.jsonl", "quarantine.jsonl")]
    return {str(path.relative_to(out)): path.read_bytes() for path in files}


@pytest.mark.slow
def test_killed_build_resumes_with_the_same_output_and_no_repeated_call(tmp_path: Path) -> None:
    source = _source(tmp_path / "source", 30, {2: "wrong", 4: "aha", 6: "fault:500"})
    with DoubleProcess(DoubleConfig(latency_s=0.02)) as double:
        # An uninterrupted build: the reference output and the number of calls it needs.
        reference_config = tmp_path / "reference.yaml"
        config = _config(source, double.url, tmp_path / "cache-reference")
        reference_config.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        assert _run_build(reference_config, tmp_path / "reference").wait(timeout=120) == 0
        needed = double.stats()["answered"]
        assert needed > 40

        # The same build, killed when half of its calls were answered (later requests are
        # held unanswered, so the kill cannot fall between an answer and its cache write).
        double.reset()
        double.configure(hold_after_answers=needed // 2)
        cache_dir = tmp_path / "cache"
        killed_config = tmp_path / "killed.yaml"
        config = _config(source, double.url, cache_dir)
        killed_config.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        build = _run_build(killed_config, tmp_path / "out")
        _wait(lambda: double.stats()["answered"] >= needed // 2, 60, "half of the calls")
        time.sleep(0.5)  # requests that arrived before the hold finish (latency 0.02 s)
        answered = double.stats()["answered"]
        assert answered < needed
        _wait(
            lambda: _cached_rows(cache_dir) == answered,
            10,
            f"the {answered} answers in the cache (has {_cached_rows(cache_dir)})",
        )
        build.send_signal(signal.SIGKILL)
        build.wait(timeout=10)
        assert build.returncode == -signal.SIGKILL
        double.configure(hold_after_answers=None)  # held requests now fail; nobody listens

        restarted = _run_build(killed_config, tmp_path / "out")
        assert restarted.wait(timeout=120) == 0
        stats = double.stats()

    assert stats["max_answers_per_key"] == 1  # no teacher call was answered twice
    assert stats["answered"] == needed  # killed + restarted = exactly the uninterrupted calls
    assert _outputs(tmp_path / "out") == _outputs(tmp_path / "reference")
