"""The GPU benchmark's schedule: budget shares, recorded failures, out-of-memory fallbacks."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "gpu"))

from bench_schedule import Schedule


def ok(stop_at: float) -> dict[str, Any]:
    return {"status": "ok", "stop_at": stop_at}


def out_of_memory(stop_at: float) -> dict[str, Any]:
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.32 GiB\nmore text")


def broken(stop_at: float) -> dict[str, Any]:
    raise ValueError("shapes do not match")


def schedule(budget_s: float, **runners: Any) -> Schedule:
    now = time.perf_counter()
    return Schedule(
        weights={name: 1.0 for name in runners},
        runners=runners,
        deadline=now + budget_s,
        budget_s=budget_s,
        after_phase=lambda: {"peak_memory_gib": 70.5},
        fallbacks={"b": ("b_smaller", ok)},
    )


def test_failures_are_recorded_and_the_fallback_runs() -> None:
    plan = schedule(100.0, a=broken, b=out_of_memory, c=ok)
    phases = plan.run(time.perf_counter())
    assert list(phases) == ["a", "b", "b_smaller", "c"]
    assert phases["a"] == {"status": "error", "error": "shapes do not match"}
    assert phases["b"]["status"] == "oom" and phases["b"]["peak_memory_gib"] == 70.5
    assert phases["b"]["error"] == "CUDA out of memory. Tried to allocate 2.32 GiB"
    assert phases["b_smaller"]["status"] == "ok" and phases["c"]["status"] == "ok"


def test_each_phase_gets_its_share_of_what_is_left() -> None:
    plan = schedule(90.0, a=ok, b=ok, c=ok)
    phases = plan.run(time.perf_counter())
    # a: a third of 90 s; the later ones share what is left, ending at the deadline.
    assert abs(phases["a"]["stop_at"] - (plan.deadline - 60.0)) < 1.0
    assert abs(phases["c"]["stop_at"] - plan.deadline) < 1e-6


def test_nothing_starts_after_the_deadline_and_no_fallback_without_time() -> None:
    plan = schedule(0.0, a=ok)
    assert plan.run(time.perf_counter())["a"]["status"] == "skipped"
    plan = schedule(100.0, b=out_of_memory)
    plan.deadline = time.perf_counter() + 10.0  # less than a quarter of the budget left
    phases = plan.run(time.perf_counter())
    assert phases["b_smaller"] == {"status": "skipped", "reason": "no time left"}
