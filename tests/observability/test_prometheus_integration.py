"""GRPO training exporting to a real Pushgateway scraped by a real Prometheus (Debian packages).

A: the values Prometheus stores equal what the training log says; /metrics is served while
training. B: the Pushgateway dies mid-run and training still finishes. C (no training: an
exporter driven by hand with a GRPO log dict): the gateway's groups carry job ``vlaa`` and the
run_id/stage/arm grouping key; basic auth from the URL is accepted by a gateway that requires
it; a push that ran past its deadline against a hanging peer works again once a gateway
answers there.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.configs import tiny_grpo
from support.prometheus_servers import (  # noqa: F401 - fixtures
    GATEWAY_USER,
    ServerProcess,
    auth_pushgateway,
    prometheus,
    prometheus_binaries,
    pushed_groups,
    pushed_value,
    pushgateway,
    silent_listener,
    start_pushgateway,
    wait_for_sample,
)
from test_observability import GRPO_LOG, RUN, begin, callback, end, log
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from vlaa.observability import MetricsSettings
from vlaa.observability.callback import PrometheusCallback, metrics_callbacks
from vlaa.training.grpo import run_grpo
from vlaa.training.log import read_log

pytestmark = pytest.mark.slow

CONFIG = tiny_grpo(4, 16, max_steps=3, num_generations=4, learning_rate=1e-4)
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


def _only_group(gateway: ServerProcess) -> dict[str, Any]:
    groups = pushed_groups(gateway)
    assert len(groups) == 1, [group["labels"] for group in groups]
    return groups[0]


def test_push_groups_by_job_run_id_stage_and_arm(
    pushgateway: ServerProcess,  # noqa: F811
) -> None:
    cb = callback(MetricsSettings(pushgateway_url=pushgateway.url))
    begin(cb)
    log(cb, GRPO_LOG, step=1)
    end(cb, 1)
    assert cb.push_failures == 0

    group = _only_group(pushgateway)
    assert group["labels"] == {"job": "vlaa", **RUN}
    assert group["last_push_successful"] is True
    assert pushed_value(group, "vlaa_reward_mean") == GRPO_LOG["reward"]
    assert pushed_value(group, "vlaa_kl") == GRPO_LOG["kl"]
    for kind in ("digit", "mcq"):
        value = pushed_value(group, "vlaa_reward_by_type_mean", reward_type=kind)
        assert value == GRPO_LOG[f"rewards/{kind}/mean"], kind
    # TRL's per-function key is not a reward type.
    types = {s["labels"]["reward_type"] for s in group["vlaa_reward_by_type_mean"]["metrics"]}
    assert types == {"digit", "mcq"}
    for name, family in group.items():
        if name.startswith("vlaa_"):
            for series in family["metrics"]:
                assert {key: series["labels"][key] for key in group["labels"]} == group["labels"]


def test_basic_auth_from_the_url_reaches_a_gateway_that_requires_it(
    auth_pushgateway: ServerProcess,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="vlaa.observability")
    host = f"127.0.0.1:{auth_pushgateway.port}"
    user, password = GATEWAY_USER.name, GATEWAY_USER.password
    # Without credentials, and with a wrong password, the gateway refuses (401): warned,
    # counted, nothing stored.
    for url in (f"http://{host}", f"http://{user}:wrong-{password}@{host}"):
        refused = callback(MetricsSettings(pushgateway_url=url, warn_every=100))
        log(refused, GRPO_LOG, step=1)  # must not raise
        assert refused.flush()  # pushes run in the background
        assert refused.push_failures == 1, url
        assert refused.metrics.sample("vlaa_metrics_push_failures_total") == 1.0
    warnings = [r.getMessage() for r in caplog.records if "metrics push" in r.getMessage()]
    assert len(warnings) == 2
    assert all("401" in message for message in warnings), warnings
    assert pushed_groups(auth_pushgateway) == []

    accepted = callback(MetricsSettings(pushgateway_url=f"http://{user}:{password}@{host}"))
    log(accepted, GRPO_LOG, step=1)
    assert accepted.flush()
    assert accepted.push_failures == 0
    group = _only_group(auth_pushgateway)
    assert group["labels"] == {"job": "vlaa", **RUN}
    assert pushed_value(group, "vlaa_reward_mean") == GRPO_LOG["reward"]
    assert password not in caplog.text


def test_a_timed_out_push_works_again_once_a_gateway_answers(
    prometheus_binaries: None,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    timeout = 0.5
    caplog.set_level(logging.INFO, logger="vlaa.observability")
    with silent_listener() as port:  # accepts connections, never answers
        settings = MetricsSettings(
            pushgateway_url=f"http://127.0.0.1:{port}",
            push_timeout_seconds=timeout,
            warn_every=100,
        )
        cb = callback(settings)
        begin(cb)
        started = time.monotonic()
        log(cb, GRPO_LOG, step=1)  # must not raise
        assert cb.flush(timeout + 1.5)  # the push runs in the background
        elapsed = time.monotonic() - started
    assert timeout * 0.9 <= elapsed < timeout + 1.5, elapsed
    assert cb.push_failures == 1
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "push not finished within its 0.5 s deadline" in warning.getMessage()

    # The fault clears: a real Pushgateway now answers on the same address.
    gateway = start_pushgateway(tmp_path / "pushgateway", port=port)
    try:
        log(cb, GRPO_LOG, step=2)
        assert cb.flush(5)
        assert cb.push_failures == 1
        assert "works again after 1 failures" in caplog.text
        group = _only_group(gateway)
        assert group["labels"] == {"job": "vlaa", **RUN}
        assert pushed_value(group, "vlaa_train_step") == 2.0
        assert pushed_value(group, "vlaa_metrics_push_failures_total") == 1.0
        assert pushed_value(group, "vlaa_reward_mean") == GRPO_LOG["reward"]
    finally:
        gateway.stop()


def test_eval_scores_reach_the_pushgateway(
    pushgateway: ServerProcess,  # noqa: F811
) -> None:
    """An evaluation's scores land as vlaa_eval_score{metric=...} in the evaluate group."""
    from vlaa.observability import EVAL_SCORE, push_eval_scores

    metrics = {"accuracy": 0.25, "accuracy_mathvista": 0.5, "score_wemath": 0.125, "num_samples": 8}
    settings = MetricsSettings(pushgateway_url=pushgateway.url)
    assert push_eval_scores("run-eval", "sft-grpo", metrics, settings)

    groups = [g for g in pushed_groups(pushgateway) if g["labels"].get("run_id") == "run-eval"]
    assert len(groups) == 1
    assert groups[0]["labels"]["stage"] == "evaluate"
    assert groups[0]["labels"]["arm"] == "sft-grpo"
    assert pushed_value(groups[0], EVAL_SCORE, metric="accuracy_mathvista") == 0.5
    assert pushed_value(groups[0], EVAL_SCORE, metric="score_wemath") == 0.125
    with pytest.raises(AssertionError):
        pushed_value(groups[0], EVAL_SCORE, metric="num_samples")  # not a score
