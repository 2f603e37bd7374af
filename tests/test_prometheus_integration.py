"""GRPO training exporting to a real Pushgateway scraped by a real Prometheus (Debian packages).

A: the values Prometheus stores equal what the training log says; /metrics is served while
training. B: the Pushgateway dies mid-run and training still finishes.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_servers import (  # noqa: F401 - fixtures
    ServerProcess,
    prometheus,
    prometheus_binaries,
    pushgateway,
    wait_for_sample,
)
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from vlaa.components.grpo.step import GRPOStepConfig, run_grpo
from vlaa.observability import MetricsSettings, PrometheusCallback, metrics_callbacks
from vlaa.training.common import read_log

pytestmark = pytest.mark.slow

CONFIG = GRPOStepConfig(
    rollout_batch_prompts=4,
    train_batch_completions=16,
    per_device_batch_size=16,
    max_steps=3,
    max_completion_length=16,
    num_generations=4,
    learning_rate=1e-4,
    warmup_ratio=0.0,
)
PER_TYPE_KEY = re.compile(r"^rewards/(?P<type>digit|mcq|math|iou|open)/mean$")


class ScrapeProbe(TrainerCallback):
    """Scrapes the exporter's /metrics at every step end, as a PodMonitor would."""

    def __init__(self, exporter: PrometheusCallback) -> None:
        self.exporter = exporter
        self.scrapes: list[str] = []

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        assert self.exporter.port is not None, "the exporter is not serving /metrics"
        url = f"http://127.0.0.1:{self.exporter.port}/metrics"
        self.scrapes.append(requests.get(url, timeout=5).text)


class KillGateway(TrainerCallback):
    """Terminates the Pushgateway when step ``at_step`` ends (before that step's log push)."""

    def __init__(self, gateway: ServerProcess, at_step: int = 1) -> None:
        self.gateway = gateway
        self.at_step = at_step
        self.killed_at: int | None = None

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        if state.global_step == self.at_step and self.killed_at is None:
            self.gateway.stop()
            self.killed_at = state.global_step


def _exporter(callbacks: list[TrainerCallback]) -> PrometheusCallback:
    (exporter,) = callbacks
    assert isinstance(exporter, PrometheusCallback)
    return exporter


def _last_with(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    matching = [row for row in rows if row.get(key) is not None]
    assert matching, f"no training log row has {key!r}"
    return matching[-1]


def _equals(expected: float) -> Any:
    return lambda value: math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12)


def test_grpo_metrics_reach_prometheus(
    tiny_model_dir: Path,
    tiny_dataset: dict[str, Path],
    pushgateway: ServerProcess,  # noqa: F811
    prometheus: ServerProcess,  # noqa: F811
    tmp_path: Path,
) -> None:
    run_id = f"it-{uuid.uuid4().hex[:8]}"
    settings = MetricsSettings(pushgateway_url=pushgateway.url, port=0, host="127.0.0.1")
    callbacks = metrics_callbacks("grpo", run_id, "sft", settings)
    exporter = _exporter(callbacks)
    probe = ScrapeProbe(exporter)

    summary = run_grpo(
        tiny_model_dir,
        tiny_dataset["rl"],
        tmp_path / "model",
        CONFIG,
        work_dir=tmp_path / "work",
        extra_callbacks=[*callbacks, probe],
    )

    assert summary["steps"] == CONFIG.max_steps
    assert exporter.push_failures == 0
    # /metrics was served during training, with the run's series, and is closed afterwards.
    assert len(probe.scrapes) == CONFIG.max_steps
    assert any(f'vlaa_train_step{{arm="sft",run_id="{run_id}"' in s for s in probe.scrapes)
    assert any("vlaa_reward_mean{" in s for s in probe.scrapes)
    assert exporter.port is None

    rows = read_log(Path(summary["log"]))
    selector = f'run_id="{run_id}",stage="grpo",arm="sft"'
    last_reward = _last_with(rows, "reward")
    labels, reward = wait_for_sample(
        prometheus, f"vlaa_reward_mean{{{selector}}}", _equals(last_reward["reward"])
    )
    assert math.isfinite(reward)
    assert labels["job"] == "vlaa"  # honor_labels keeps the pushed job and grouping key

    last_kl = _last_with(rows, "kl")
    _, kl = wait_for_sample(prometheus, f"vlaa_kl{{{selector}}}", _equals(last_kl["kl"]))
    assert math.isfinite(kl)

    per_type = {
        match["type"]: row[key]
        for row in rows
        for key in row
        if (match := PER_TYPE_KEY.match(key)) and row[key] is not None
    }  # the last logged value of each type
    assert per_type, "the reward router logged no per-type reward"
    for kind, expected in per_type.items():
        labels, value = wait_for_sample(
            prometheus,
            f'vlaa_reward_by_type_mean{{{selector},reward_type="{kind}"}}',
            _equals(expected),
        )
        assert labels["reward_type"] == kind
        assert math.isfinite(value)

    # Rewards and KL of a random tiny model are often 0 at every step; these change per step,
    # so they prove Prometheus holds the last step's values.
    wait_for_sample(prometheus, f"vlaa_train_step{{{selector}}}", _equals(CONFIG.max_steps))
    for name, key in [
        ("vlaa_learning_rate", "learning_rate"),
        ("vlaa_entropy", "entropy"),
        ("vlaa_tokens_processed", "num_tokens"),
    ]:
        expected = _last_with(rows, key)[key]
        wait_for_sample(prometheus, f"{name}{{{selector}}}", _equals(expected))
    _, tokens_per_second = wait_for_sample(prometheus, f"vlaa_tokens_per_second{{{selector}}}")
    assert tokens_per_second > 0
    _, failures = wait_for_sample(prometheus, f"vlaa_metrics_push_failures_total{{{selector}}}")
    assert failures == 0


def test_training_survives_a_dead_pushgateway(
    tiny_model_dir: Path,
    tiny_dataset: dict[str, Path],
    pushgateway: ServerProcess,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="vlaa.observability")
    settings = MetricsSettings(pushgateway_url=pushgateway.url)
    callbacks = metrics_callbacks("grpo", f"it-{uuid.uuid4().hex[:8]}", "base", settings)
    exporter = _exporter(callbacks)
    killer = KillGateway(pushgateway, at_step=1)

    summary = run_grpo(
        tiny_model_dir,
        tiny_dataset["rl"],
        tmp_path / "model",
        CONFIG,
        work_dir=tmp_path / "work",
        extra_callbacks=[killer, *callbacks],
    )

    assert killer.killed_at == 1
    assert pushgateway.process.poll() is not None
    assert summary["steps"] == CONFIG.max_steps
    assert (tmp_path / "model" / "config.json").is_file()
    assert exporter.push_failures > 0
    assert exporter.metrics.sample("vlaa_metrics_push_failures_total") == exporter.push_failures
    warnings = [r for r in caplog.records if "metrics push" in r.getMessage()]
    assert warnings, "a failed push logged no warning"
    # Rate-limited: the first failure and every warn_every-th, not one per step.
    assert len(warnings) == 1 + exporter.push_failures // settings.warn_every
