"""A short tiny-model SFT run, timed: the loop, and what the metrics hooks cost the training
thread (used by tests/observability/test_slow_gateway.py and bench/metrics_push.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fixtures.configs import tiny_sft
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from support.slow_gateways import elapsed
from vlaa.observability import MetricsSettings
from vlaa.observability.callback import PrometheusCallback

STEPS = 3  # a push per step: synchronous pushes would add a deadline to each
PUSH_DEADLINE = 1.0


class LoopTimer(TrainerCallback):
    """Times the training loop (begin to end, before the exporter's final flush), and the time
    the exporter's hooks hold the training thread: per log, and at the end of training."""

    def __init__(self, exporter: PrometheusCallback | None) -> None:
        self.began = self.ended = 0.0
        self.log_seconds: list[float] = []
        self.end_seconds = 0.0
        if exporter is not None:
            on_log, on_train_end = exporter.on_log, exporter.on_train_end

            def timed_log(*args: Any, **kwargs: Any) -> None:
                self.log_seconds.append(elapsed(lambda: on_log(*args, **kwargs))[0])

            def timed_end(*args: Any, **kwargs: Any) -> None:
                self.end_seconds = elapsed(lambda: on_train_end(*args, **kwargs))[0]

            exporter.on_log = timed_log  # type: ignore[method-assign]
            exporter.on_train_end = timed_end  # type: ignore[method-assign]

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.began = time.monotonic()

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.ended = time.monotonic()


def sft_run(model: Path, data: Path, out: Path, url: str | None) -> dict[str, Any]:
    from vlaa.training.sft import run_sft

    exporter = None
    if url:
        settings = MetricsSettings(pushgateway_url=url, push_timeout_seconds=PUSH_DEADLINE)
        exporter = PrometheusCallback("sft", "run-slow", "base", settings)
    timer = LoopTimer(exporter)
    callbacks = [timer] if exporter is None else [timer, exporter]
    config = tiny_sft(STEPS, 2, 2, logging_steps=1, save_steps=1000)
    seconds, _ = elapsed(lambda: run_sft(model, data, out, config, extra_callbacks=callbacks))
    return {
        "loop_seconds": timer.ended - timer.began,
        "run_seconds": seconds,
        "max_log_hook_seconds": max(timer.log_seconds, default=0.0),
        "end_hook_seconds": timer.end_seconds,
        "failures": exporter.push_failures if exporter else 0,
        "successes": exporter.pusher.pusher.successes if exporter and exporter.pusher else 0,
    }
