"""Which phase runs when: shares of the time budget, and a fallback after an out-of-memory.

A run on a lent GPU happens once, so a failing phase is recorded (``status: oom`` with the
peak memory it reached, or ``status: error`` with its traceback on stderr) and the next phase
runs; a phase with a fallback (a setting that needs less memory) runs it after an
out-of-memory if at least ``fallback_share`` of the budget is left. A step that has started
always finishes, so the budget bounds when phases start, not when they end.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

Runner = Callable[[float], dict[str, Any]]  # stop_at (perf_counter time) -> result


@dataclass
class Schedule:
    weights: dict[str, float]  # phase -> share of the remaining budget, in run order
    runners: dict[str, Runner]
    deadline: float  # perf_counter time
    budget_s: float
    after_phase: Callable[[], dict[str, Any]]  # frees memory; returns peak-memory fields
    fallbacks: dict[str, tuple[str, Runner]] = field(default_factory=dict)
    fallback_share: float = 0.25

    def run(self, started: float) -> dict[str, dict[str, Any]]:
        phases: dict[str, dict[str, Any]] = {}
        names = list(self.weights)
        for index, name in enumerate(names):
            now = time.perf_counter()
            if now >= self.deadline:
                phases[name] = {"status": "skipped", "reason": "seconds budget used up"}
                continue
            remaining_weights = sum(self.weights[n] for n in names[index:])
            stop_at = now + (self.deadline - now) * self.weights[name] / remaining_weights
            print(f"[{now - started:7.1f}s] {name} ...", flush=True)
            phases[name] = self.guarded(self.runners[name], stop_at)
            if phases[name]["status"] != "oom" or name not in self.fallbacks:
                continue
            fallback_name, fallback = self.fallbacks[name]
            if self.deadline - time.perf_counter() < self.fallback_share * self.budget_s:
                phases[fallback_name] = {"status": "skipped", "reason": "no time left"}
                continue
            print(f"  out of memory; again as {fallback_name}", flush=True)
            phases[fallback_name] = self.guarded(fallback, max(stop_at, time.perf_counter()))
        return phases

    def guarded(self, run: Runner, stop_at: float) -> dict[str, Any]:
        try:
            result = run(stop_at)
        except Exception as error:
            message = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
            oom = isinstance(error, torch.OutOfMemoryError) or "out of memory" in message.lower()
            if not oom:
                traceback.print_exc()
            result = {"status": "oom" if oom else "error", "error": message}
        memory = self.after_phase()  # after the except block: the failed frames are gone
        if result["status"] == "oom":
            result.update(memory)
        return result
