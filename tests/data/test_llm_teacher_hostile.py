"""The LLM teacher against hostile endpoints (tests/doubles/openai_hostile.py), a damaged cache
and several builds sharing one cache.

Every hostile reply becomes a drop with its reason (never a crash, never followed, never
stored), memory stays bounded with endless bodies, the API key reaches no file and no log line,
a damaged cache is one clear error naming it (or is moved aside on request), and two processes
sharing a cache pay each call once (counted at the double).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles.openai_api import DoubleConfig, OpenAIDouble

from vlaa.data.config import BuildDatasetConfig
from vlaa.data.engine import build_dataset
from vlaa.data.llm_teacher import (
    CacheError,
    LLMTeacher,
    LLMTeacherConfig,
    ResponseCache,
    TeacherCallError,
    TeacherEndpoint,
)
from vlaa.data.llm_teacher.cache import CACHE_FILE, cache_key, input_hash
from vlaa.data.llm_teacher.prompts import rewrite_messages
from vlaa.data.llm_teacher.scrub import Scrubber
from vlaa.data.llm_teacher.wire import DETAIL_CHARS, status_failure
from vlaa.data.synthetic import SyntheticConfig, generate
from vlaa.errors import UserError
from vlaa.records import read_records, write_records

SECRET = "sk-proj-Hostile0123456789abcdefXYZ"
KEY_ENV = "VLAA_TEST_HOSTILE_KEY"
CALLS_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "teacher_calls.py"
MiB = 1024 * 1024


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIDouble]:
    monkeypatch.setenv(KEY_ENV, SECRET)
    with OpenAIDouble(DoubleConfig(api_key=SECRET, hang_s=5.0)) as server:
        yield server


def _endpoint(url: str, **overrides: Any) -> TeacherEndpoint:
    settings: dict[str, Any] = {
        "base_url": url,
        "model": "double-1",
        "api_key_env": KEY_ENV,
        "backoff_initial_s": 0.001,
        "backoff_max_s": 0.01,
        "timeout_s": 5.0,
        "max_attempts": 3,
        **overrides,
    }
    return TeacherEndpoint(**settings)


def _leaks(folder: Path) -> list[str]:
    """Files under ``folder`` holding the key or any 8 characters of its secret part."""
    secret_part = SECRET.removeprefix("sk-proj-")
    pieces = {secret_part[i : i + 8].encode() for i in range(len(secret_part) - 7)}
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if SECRET.encode() in data or any(piece in data for piece in pieces):
                found.append(str(path))
    return found


# --------------------------------------------------------------------- one call per hostile kind


@pytest.mark.parametrize(
    ("kind", "reason", "attempts"),
    [
        ("huge", "teacher_response_too_large", 1),  # 50 MB, Content-Length declared
        ("endless", "teacher_response_too_large", 1),  # chunked, never ends
        ("redirect", "teacher_redirect", 1),
        ("surrogate", "teacher_unstorable_reply", 1),
        ("error_echo_key", "teacher_http_error", 1),
        ("error_endless", "teacher_server_error", 3),  # retried; each read stops at 64 KiB
    ],
)
def test_a_hostile_reply_is_a_drop_with_its_reason(
    double: OpenAIDouble, tmp_path: Path, kind: str, reason: str, attempts: int
) -> None:
    with OpenAIDouble() as elsewhere:
        # "localhost", not our 127.0.0.1: the message must name the other host.
        target = elsewhere.url.replace("127.0.0.1", "localhost") + "/chat/completions"
        double.configure(redirect_to=target)
        config = LLMTeacherConfig.for_all_steps(_endpoint(double.url), str(tmp_path))

        async def call() -> tuple[TeacherCallError, int]:
            async with LLMTeacher(config) as teacher:
                with pytest.raises(TeacherCallError) as caught:
                    await teacher.rewrite(f"Some text. [[fault:{kind}]]")
                return caught.value, len(teacher.client.cache)

        started = time.perf_counter()
        error, cached = asyncio.run(call())
        seconds = time.perf_counter() - started
        assert elsewhere.stats()["received"] == 0, "the redirect was not followed"

    assert (error.reason, error.attempts) == (reason, attempts), error
    assert cached == 0, "nothing hostile is cached"
    assert seconds < 4, f"{kind} took {seconds:.1f} s: it must stop at the cap, not the timeout"
    assert SECRET not in str(error) and SECRET[-12:] not in str(error)
    if kind == "redirect":
        assert "redirect to localhost" in error.detail
    if kind in ("huge", "endless"):
        assert str(4 * MiB) in error.detail  # the documented default cap


def test_an_echoed_key_is_scrubbed_from_the_reply_and_the_cache(
    double: OpenAIDouble, tmp_path: Path
) -> None:
    config = LLMTeacherConfig.for_all_steps(_endpoint(double.url), str(tmp_path / "cache"))

    async def call() -> Any:
        async with LLMTeacher(config) as teacher:
            return await teacher.rewrite("A caption says so. [[fault:echo_key]]")

    result = asyncio.run(call())
    assert "Authorization: Bearer ***; key ***" in result.text
    assert result.usage == {"prompt_tokens": 1, "completion_tokens": 2}, "text in usage dropped"
    assert _leaks(tmp_path) == []
    again = asyncio.run(call())  # from the cache
    assert again.cached and again.text == result.text


def test_secrets_are_scrubbed_before_anything_is_cut() -> None:
    scrub = Scrubber([SECRET])
    # The key straddles the DETAIL_CHARS cut (the old code cut first, leaking its start).
    body = json.dumps({"error": {"message": "x" * (DETAIL_CHARS - 20) + " key " + SECRET}})
    assert SECRET[:10] not in status_failure(401, body.encode(), {}, scrub).detail
    # A \u-escaped key in a JSON body is decoded before scrubbing.
    escaped = "".join(f"\\u{ord(c):04x}" for c in SECRET)
    raw = ('{"error": {"message": "got ' + escaped + '", "x": "\\ud800"}}').encode()
    detail = status_failure(400, raw, {}, scrub).detail
    assert SECRET not in detail and "***" in detail
    detail.encode("utf-8")  # the lone surrogate is replaced, the detail is storable
    assert scrub("authorization: Basic dXNlcjpwYXNz") == "authorization: Basic ***"
    assert scrub('{"api_key": "abc123"}') == '{"api_key": "***"}'


# ------------------------------------------------------------------------ bounded memory


def _calls(url: str, cache_dir: Path, texts: list[str], *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, str(CALLS_SCRIPT), url, str(cache_dir), *texts, *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_endless_and_huge_bodies_keep_memory_bounded(tmp_path: Path) -> None:
    # A fresh process, so its peak RSS (VmHWM) is this test's: 6 endless bodies and two
    # declared 50 MB ones at once, with the default 4 MiB cap and a 30 s timeout.
    texts = [f"text {i} [[fault:endless]]" for i in range(6)]
    texts += [f"text {i} [[fault:huge]]" for i in range(2)]
    with OpenAIDouble() as double:
        result = _result(_calls(double.url, tmp_path, texts, "--warm-up", "--timeout", "30"))
    grown_mib = (result["peak_rss_after_kib"] - result["peak_rss_before_kib"]) / 1024
    reasons = {entry.get("reason") for entry in result["results"]}
    assert reasons == {"teacher_response_too_large"}
    assert grown_mib < 6 * 4 * 3 + 32, f"peak RSS grew {grown_mib:.0f} MiB (cap-based bound)"
    assert grown_mib < 512
    assert result["seconds"] < 10, "the calls stop at the cap, not at the 30 s timeout"


# ------------------------------------------------------------------------- the key, end to end


def _source(root: Path, plans: dict[int, str], count: int = 14) -> tuple[Path, list[str]]:
    records = [r for r, _ in generate(SyntheticConfig(num_samples=count, seed=3), root / "images")]
    scripted = []
    for index, record in enumerate(records):
        marks = f"[[answer:{record.answer_text()}]]"
        if index in plans:
            marks += f" [[fault:{plans[index]}]]"
        scripted.append(record.model_copy(update={"question": f"{record.question} {marks}"}))
    write_records(root / "records.jsonl", scripted)
    return root, [record.id for record in scripted]


def test_a_build_against_a_hostile_teacher_drops_and_leaks_nothing(
    double: OpenAIDouble, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    plans = {
        1: "huge",
        2: "endless",
        3: "redirect",
        4: "surrogate",
        5: "error_echo_key",
        6: "echo_key",
        7: "error_endless",
    }
    source, ids = _source(tmp_path / "source", plans)
    double.configure(huge_bytes=6 * MiB)
    settings = _endpoint(double.url, max_concurrency=4).model_dump()
    teacher = {step: settings for step in ("caption", "reason", "rewrite", "verify")}
    config = BuildDatasetConfig(
        source=str(source),
        eval_size=1,
        teacher="llm",
        llm_teacher={**teacher, "cache_dir": str(tmp_path / "cache")},
        max_drop_share=0.8,
    )
    out = tmp_path / "out"
    card = build_dataset(config, *(out / name for name in ("sft", "rl", "eval", "card")))

    drops = {
        entry["id"]: entry
        for entry in map(json.loads, (out / "card" / "drops.jsonl").read_text().splitlines())
    }
    expected = {
        1: "teacher_response_too_large",
        2: "teacher_response_too_large",
        3: "teacher_redirect",
        4: "teacher_unstorable_reply",
        5: "teacher_http_error",
        7: "teacher_server_error",
    }
    held_out = {record.id for record in read_records(out / "eval" / "records.jsonl")}
    for index, reason in expected.items():
        if ids[index] not in held_out:
            assert drops[ids[index]]["reason"] == reason, drops[ids[index]]
    assert set(drops) == {ids[i] for i in expected} - held_out
    assert card.unaccounted() == {}, "every record is in a split or in the drops"
    if ids[6] not in held_out:  # the echoed key was scrubbed; the record itself is fine
        kept = [r for s in ("sft", "rl") for r in read_records(out / s / "records.jsonl")]
        echoed = next(r for r in kept if r.id == ids[6])
        assert "Bearer ***" in echoed.reasoning
    assert _leaks(tmp_path) == [], "no key bytes in any output, card, drop or cache file"
    assert SECRET[-12:] not in caplog.text and SECRET not in caplog.text


# ------------------------------------------------------------------------------ damaged cache


def _filled_cache(cache_dir: Path, rows: int = 400) -> Path:
    cache = ResponseCache(cache_dir)
    for i in range(rows):
        text = f"answer {i} " + "lorem ipsum " * 80
        cache.put(f"k{i}", step="rewrite", model="m", prompt_version="v", text=text, **_none())
    cache.close()  # the last connection checkpoints the WAL into the file
    return cache_dir / CACHE_FILE


def _none() -> dict[str, Any]:
    return {"reasoning": None, "usage": None}


def _damage_pages(path: Path, seed: int = 0) -> None:
    """Random bytes over every third 4 KiB page after the first two (the schema's)."""
    noise = random.Random(seed)
    pages = path.stat().st_size // 4096
    assert pages > 20
    with path.open("r+b") as handle:
        for page in range(2, pages, 3):
            handle.seek(page * 4096)
            handle.write(noise.randbytes(4096))


def test_a_damaged_cache_is_one_clear_error_naming_the_file(tmp_path: Path) -> None:
    path = _filled_cache(tmp_path)
    _damage_pages(path)
    with pytest.raises(CacheError) as caught:
        ResponseCache(tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, UserError) and "\n" not in message
    assert str(path) in message and "damaged" in message and "rebuild_cache" in message

    path.write_bytes(random.Random(1).randbytes(8192))  # not a database at all
    with pytest.raises(CacheError, match="damaged"):
        ResponseCache(tmp_path)


def test_a_damaged_cache_is_moved_aside_on_request(tmp_path: Path) -> None:
    path = _filled_cache(tmp_path)
    _damage_pages(path)
    cache = ResponseCache(tmp_path, rebuild=True)
    try:
        assert len(cache) == 0 and cache.get("k1") is None
        cache.put("k1", step="rewrite", model="m", prompt_version="v", text="new", **_none())
    finally:
        cache.close()
    assert len(list(tmp_path.glob(f"{CACHE_FILE}.damaged-*"))) == 1


def test_the_cli_names_a_damaged_cache_and_rebuilds_it_on_request(
    tmp_path: Path, double: OpenAIDouble
) -> None:
    path = _filled_cache(tmp_path / "cache")
    _damage_pages(path)
    source, _ = _source(tmp_path / "source", {}, count=6)
    settings = _endpoint(double.url).model_dump()
    teacher = {step: settings for step in ("caption", "reason", "rewrite", "verify")}
    config = {
        "source": str(source),
        "eval_size": 1,
        "teacher": "llm",
        "llm_teacher": {**teacher, "cache_dir": str(tmp_path / "cache")},
    }
    config_file = tmp_path / "build.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "vlaa.cli", "build-dataset", "--output", str(tmp_path / "o")]
    command += ["--config", str(config_file)]
    env = {**os.environ, KEY_ENV: SECRET, "COLUMNS": "300"}

    failed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr + failed.stdout
    assert str(path) in " ".join((failed.stderr + failed.stdout).split())

    rebuilt = subprocess.run(
        [*command, "--rebuild-teacher-cache"], capture_output=True, text=True, env=env, timeout=120
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert double.stats()["answered"] > 0
    assert len(list(path.parent.glob(f"{CACHE_FILE}.damaged-*"))) == 1


# ------------------------------------------------------------------------------ shared cache


def test_two_processes_sharing_a_cache_pay_each_call_once(tmp_path: Path) -> None:
    texts = [f"rewrite number {i}: the caption shows {i} cubes." for i in range(24)]
    go = tmp_path / "go"
    with OpenAIDouble(DoubleConfig(latency_s=0.3)) as double:
        processes = [_calls(double.url, tmp_path / "cache", texts, "--go", str(go)) for _ in "ab"]
        # generous: on a fresh clone each process first compiles the package (two cores, busy)
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("go.ready-*"))) < len(processes):
            assert time.monotonic() < deadline, "the processes did not start"
            time.sleep(0.05)
        go.touch()  # both have opened the cache and wait: their calls start together
        results = [_result(process) for process in processes]
        stats = double.stats()

    assert stats["received"] == len(texts), "each call was paid once for both processes"
    assert stats["max_answers_per_key"] == 1
    first, second = (result["results"] for result in results)
    assert [r["text"] for r in first] == [r["text"] for r in second]
    for mine, theirs in zip(first, second, strict=True):
        assert sorted([mine["cached"], theirs["cached"]]) == [False, True]
    assert all(result["seconds"] < 10 for result in results)


def test_a_killed_claim_holder_does_not_block_the_next_process(tmp_path: Path) -> None:
    texts = [f"held rewrite {i}" for i in range(4)]
    with OpenAIDouble(DoubleConfig(latency_s=30.0)) as double:
        holder = _calls(double.url, tmp_path / "cache", texts)
        deadline = time.monotonic() + 30
        while double.stats()["in_flight"] < len(texts):
            assert time.monotonic() < deadline, "the holder never sent its calls"
            time.sleep(0.05)
        holder.send_signal(signal.SIGKILL)  # it holds the four claims, mid-call
        holder.wait(timeout=10)
        double.configure(latency_s=0.0)
        result = _result(_calls(double.url, tmp_path / "cache", texts))
    # The kernel dropped the dead process's claims: no lease to wait out.
    assert [entry.get("cached") for entry in result["results"]] == [False] * len(texts)
    assert result["seconds"] < 3


def test_a_stuck_claim_holder_is_waited_for_only_as_long_as_its_calls_may_take(
    double: OpenAIDouble, tmp_path: Path
) -> None:
    # timeout 0.3 s, one attempt, no pauses: a holder is done within 0.3 s or is stuck.
    settings = {"timeout_s": 0.3, "max_attempts": 1, "backoff_max_s": 0, "max_retry_after_s": 0}
    config = LLMTeacherConfig.for_all_steps(_endpoint(double.url, **settings), str(tmp_path))
    holder = ResponseCache(tmp_path)  # another open cache: its claims exclude ours (OFD locks)

    async def call() -> tuple[Any, float]:
        async with LLMTeacher(config) as teacher:
            client = teacher.client
            body = client.request_body("rewrite", rewrite_messages("stuck"))
            request = input_hash({k: v for k, v in body.items() if k != "model"})
            version = client.prompt_versions["rewrite"]
            assert holder.claims.try_claim(cache_key("double-1", "rewrite", version, request))
            started = time.perf_counter()
            result = await teacher.rewrite("stuck")
            return result, time.perf_counter() - started

    try:
        result, seconds = asyncio.run(call())
    finally:
        holder.close()
    assert not result.cached and double.stats()["received"] == 1
    assert 0.3 <= seconds < 2.5
