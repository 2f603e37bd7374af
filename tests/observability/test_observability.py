"""Unit tests of the Prometheus exporter: log mapping, rates, settings, best-effort failures.

Pushes to a real Pushgateway (grouping key, basic auth, recovery) are in
``test_prometheus_integration.py``.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import pytest
import requests
from support.prometheus_servers import free_port, silent_listener
from transformers import TrainerControl, TrainerState

from vlaa.observability import MetricsSettings
from vlaa.observability.callback import PrometheusCallback, metrics_callbacks
from vlaa.observability.prometheus import LOG_METRICS, TrainingMetrics

RUN = {"run_id": "run-1", "stage": "grpo", "arm": "sft"}

# Shaped like one TRL 1.16 GRPOTrainer `on_log` dict (per-type reward functions' means and
# stds, one function not named by a reward type, beta > 0).
GRPO_LOG: dict[str, Any] = {
    "loss": 0.0123,
    "grad_norm": 1.5,
    "learning_rate": 9e-5,
    "num_tokens": 4096.0,
    "completions/mean_length": 12.5,
    "completions/min_length": 3.0,
    "completions/max_length": 16.0,
    "completions/clipped_ratio": 0.25,
    "completions/mean_terminated_length": 9.0,
    "rewards/mixed_reward/mean": 0.375,
    "rewards/mixed_reward/std": 0.48,
    "reward": 0.375,
    "reward_std": 0.41,
    "frac_reward_zero_std": 0.5,
    "rewards/digit/mean": 0.25,
    "rewards/digit/std": 0.43,
    "rewards/mcq/mean": 0.5,
    "rewards/mcq/std": 0.5,
    "kl": 0.0021,
    "entropy": 3.2,
    "clip_ratio/low_mean": 0.0,
    "clip_ratio/high_mean": 0.01,
    "clip_ratio/region_mean": 0.01,
    "clip_ratio/low_min": 0.0,
    "clip_ratio/high_max": 0.02,
    "step_time": 1.75,
    "epoch": 0.5,
    "beta": 0.001,
}

SFT_LOG: dict[str, Any] = {
    "loss": 2.5,
    "grad_norm": 0.8,
    "learning_rate": 3e-3,
    "entropy": 4.1,
    "num_tokens": 2000.0,
    "mean_token_accuracy": 0.42,
    "epoch": 1.0,
}


class FakeClock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(step: int = 0, zero: bool = True) -> TrainerState:
    trainer_state = TrainerState(is_world_process_zero=zero)
    trainer_state.global_step = step
    return trainer_state


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def callback(settings: MetricsSettings, clock: FakeClock | None = None) -> PrometheusCallback:
    return PrometheusCallback(settings=settings, clock=clock or FakeClock(), **RUN)


def begin(cb: PrometheusCallback) -> None:
    cb.on_train_begin(None, state(), TrainerControl())  # type: ignore[arg-type]


def log(cb: PrometheusCallback, logs: dict[str, Any], step: int = 1) -> None:
    cb.on_log(None, state(step), TrainerControl(), logs=logs)  # type: ignore[arg-type]


def step_end(cb: PrometheusCallback, step: int) -> None:
    cb.on_step_end(None, state(step), TrainerControl())  # type: ignore[arg-type]


def end(cb: PrometheusCallback, step: int = 3) -> None:
    cb.on_train_end(None, state(step), TrainerControl())  # type: ignore[arg-type]


def test_grpo_log_sets_every_mapped_gauge() -> None:
    metrics = TrainingMetrics(**RUN)
    metrics.start(now=0.0, tokens=0.0)
    metrics.observe_log(GRPO_LOG, now=2.0, step=7)
    expected = {
        "vlaa_reward_mean": 0.375,
        "vlaa_reward_std": 0.41,
        "vlaa_reward_zero_std_ratio": 0.5,
        "vlaa_kl": 0.0021,
        "vlaa_kl_coefficient": 0.001,
        "vlaa_loss": 0.0123,
        "vlaa_entropy": 3.2,
        "vlaa_completion_length_mean": 12.5,
        "vlaa_completion_length_min": 3.0,
        "vlaa_completion_length_max": 16.0,
        "vlaa_completion_truncated_ratio": 0.25,
        "vlaa_clip_ratio": 0.01,
        "vlaa_grad_norm": 1.5,
        "vlaa_learning_rate": 9e-5,
        "vlaa_epoch": 0.5,
        "vlaa_tokens_processed": 4096.0,
        "vlaa_step_time_seconds": 1.75,
        "vlaa_train_step": 7.0,
        "vlaa_tokens_per_second": 2048.0,
        "vlaa_metrics_push_failures_total": 0.0,
    }
    for name, value in expected.items():
        assert metrics.registry.get_sample_value(name, RUN) == pytest.approx(value), name
    # SFT-only series stay absent rather than reading 0.
    assert metrics.registry.get_sample_value("vlaa_mean_token_accuracy", RUN) is None


def test_every_series_has_the_run_labels_and_the_prefix() -> None:
    metrics = TrainingMetrics(**RUN)
    metrics.observe_log(GRPO_LOG, now=1.0, step=1)
    families = list(metrics.registry.collect())
    assert families
    for family in families:
        assert family.name.startswith("vlaa_")
        for sample in family.samples:
            assert {key: sample.labels[key] for key in RUN} == RUN
    assert len({spec.name for spec in LOG_METRICS}) == len(LOG_METRICS)


def test_per_type_rewards_carry_a_reward_type_label() -> None:
    metrics = TrainingMetrics(**RUN)
    metrics.observe_log(GRPO_LOG, now=1.0)
    for kind, stat, value in [
        ("digit", "mean", 0.25),
        ("digit", "std", 0.43),
        ("mcq", "mean", 0.5),
        ("mcq", "std", 0.5),
    ]:
        sample = metrics.sample(f"vlaa_reward_by_type_{stat}", reward_type=kind)
        assert sample == pytest.approx(value), (kind, stat)
    # TRL's per-function key is not a reward type, and absent types have no series.
    assert metrics.sample("vlaa_reward_by_type_mean", reward_type="mixed_reward") is None
    assert metrics.sample("vlaa_reward_by_type_mean", reward_type="iou") is None


def test_missing_and_non_numeric_values_leave_gauges_unchanged() -> None:
    metrics = TrainingMetrics(**RUN)
    metrics.observe_log({"kl": 0.5}, now=1.0)
    # TRL logs None when every reward function skipped a batch.
    metrics.observe_log({"kl": None, "reward": "n/a", "rewards/digit/mean": None}, now=2.0)
    assert metrics.sample("vlaa_kl") == 0.5
    assert metrics.sample("vlaa_reward_mean") is None
    assert metrics.sample("vlaa_reward_by_type_mean", reward_type="digit") is None


def test_tokens_per_second_is_the_token_delta_over_wall_time() -> None:
    clock = FakeClock()
    cb = callback(MetricsSettings(pushgateway_url=None, port=None), clock)
    begin(cb)
    clock.now += 4.0
    log(cb, {"loss": 1.0, "num_tokens": 1000.0}, step=1)
    assert cb.metrics.sample("vlaa_tokens_per_second") == pytest.approx(250.0)
    clock.now += 2.0
    log(cb, {"loss": 1.0, "num_tokens": 2000.0}, step=2)
    assert cb.metrics.sample("vlaa_tokens_per_second") == pytest.approx(500.0)
    # A counter that went backwards (a restarted trainer) resets the baseline, not the gauge.
    clock.now += 1.0
    log(cb, {"loss": 1.0, "num_tokens": 10.0}, step=3)
    assert cb.metrics.sample("vlaa_tokens_per_second") == pytest.approx(500.0)
    clock.now += 1.0
    log(cb, {"loss": 1.0, "num_tokens": 110.0}, step=4)
    assert cb.metrics.sample("vlaa_tokens_per_second") == pytest.approx(100.0)


def test_sft_logs_and_measured_step_time() -> None:
    clock = FakeClock()
    cb = PrometheusCallback("sft", "run-2", "sft", MetricsSettings(), clock=clock)
    labels = {"run_id": "run-2", "stage": "sft", "arm": "sft"}
    begin(cb)
    clock.now += 3.0
    step_end(cb, 1)
    clock.now += 1.5
    step_end(cb, 2)
    log(cb, SFT_LOG, step=2)
    registry = cb.metrics.registry
    assert registry.get_sample_value("vlaa_loss", labels) == 2.5
    assert registry.get_sample_value("vlaa_mean_token_accuracy", labels) == 0.42
    assert registry.get_sample_value("vlaa_grad_norm", labels) == 0.8
    assert registry.get_sample_value("vlaa_learning_rate", labels) == 3e-3
    assert registry.get_sample_value("vlaa_entropy", labels) == 4.1
    assert registry.get_sample_value("vlaa_tokens_processed", labels) == 2000.0
    assert registry.get_sample_value("vlaa_train_step", labels) == 2.0
    # SFTTrainer logs no step_time: the seconds between the last two step ends are used.
    assert registry.get_sample_value("vlaa_step_time_seconds", labels) == pytest.approx(1.5)
    assert registry.get_sample_value("vlaa_tokens_per_second", labels) == pytest.approx(2000 / 4.5)
    # TRL's step_time wins where it is logged.
    log(cb, {"loss": 2.0, "step_time": 0.75}, step=2)
    assert registry.get_sample_value("vlaa_step_time_seconds", labels) == 0.75
    # ... and the end-of-training summary (no step_time) does not replace it.
    clock.now += 5.0
    step_end(cb, 3)
    log(cb, {"train_runtime": 12.0, "train_loss": 2.2}, step=3)
    assert registry.get_sample_value("vlaa_step_time_seconds", labels) == 0.75


def test_only_world_process_zero_exports() -> None:
    cb = callback(MetricsSettings())
    cb.on_log(None, state(1, zero=False), TrainerControl(), logs=GRPO_LOG)  # type: ignore[arg-type]
    assert cb.metrics.sample("vlaa_reward_mean") is None


def test_push_to_a_closed_port_warns_once_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://user:s3cret@127.0.0.1:{closed_port()}"
    settings = MetricsSettings(pushgateway_url=url, push_timeout_seconds=1, warn_every=5)
    cb = callback(settings)
    caplog.set_level(logging.WARNING, logger="vlaa.observability")
    begin(cb)
    for step in range(1, 12):
        step_end(cb, step)
        log(cb, GRPO_LOG, step=step)  # must not raise
        assert cb.flush(5)  # pushes run in the background; wait, so that none is dropped
    end(cb, 11)
    assert (cb.push_failures, cb.push_dropped) == (12, 0)  # 11 logs + the final push
    assert cb.metrics.sample("vlaa_metrics_push_failures_total") == 12.0
    warnings = [r for r in caplog.records if "metrics push" in r.getMessage()]
    # First failure, then every 5th: 1, 5, 10.
    assert len(warnings) == 3
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert "s3cret" not in caplog.text
    assert "127.0.0.1" in warnings[0].getMessage()


def test_a_gateway_that_never_answers_times_out_and_only_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A peer that accepts the connection and then hangs (a network fault; recovery against a
    # real Pushgateway is in test_prometheus_integration.py).
    timeout = 0.3
    caplog.set_level(logging.WARNING, logger="vlaa.observability")
    with silent_listener() as port:
        settings = MetricsSettings(
            pushgateway_url=f"127.0.0.1:{port}", push_timeout_seconds=timeout, warn_every=100
        )
        cb = callback(settings)
        begin(cb)
        for step in (1, 2):
            started = time.monotonic()
            log(cb, GRPO_LOG, step=step)  # must not raise, nor wait: the push is queued
            assert time.monotonic() - started < 0.1
            assert cb.flush(timeout + 1.5)
            elapsed = time.monotonic() - started
            assert timeout * 0.9 <= elapsed < timeout + 1.5, elapsed  # waited, then gave up
    assert cb.push_failures == 2
    assert cb.metrics.sample("vlaa_metrics_push_failures_total") == 2.0
    warnings = [r for r in caplog.records if "metrics push" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited: the first failure only
    assert "PushDeadlineExceeded: push not finished within its 0.3 s" in warnings[0].getMessage()


def test_serves_metrics_on_a_free_port_and_stops_at_train_end() -> None:
    cb = callback(MetricsSettings(port=0, host="127.0.0.1"))
    assert cb.port is None  # nothing is bound before training starts
    begin(cb)
    port = cb.port
    assert port
    log(cb, GRPO_LOG, step=1)
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'vlaa_kl{arm="sft",run_id="run-1",stage="grpo"} 0.0021' in text
    end(cb, 1)
    assert cb.port is None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_port_in_use_warns_and_training_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        cb = callback(MetricsSettings(port=busy, host="127.0.0.1"))
        caplog.set_level(logging.WARNING, logger="vlaa.observability")
        begin(cb)
        assert cb.port is None
        assert f"127.0.0.1:{busy}" in caplog.text
        log(cb, GRPO_LOG, step=1)
        end(cb, 1)
    assert cb.metrics.sample("vlaa_reward_mean") == 0.375


def test_a_broken_exporter_never_raises_into_training(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cb = callback(MetricsSettings())

    def broken(*args: Any) -> None:
        raise RuntimeError("bug in the exporter")

    monkeypatch.setattr(cb.metrics, "observe_log", broken)
    monkeypatch.setattr(cb.metrics, "step_end", broken)
    step_end(cb, 1)
    log(cb, GRPO_LOG, step=1)
    assert "training goes on" in caplog.text


def test_from_env_fills_only_unset_fields() -> None:
    env = {"VLAA_METRICS_PORT": "9400", "VLAA_PUSHGATEWAY_URL": "http://gw:9091"}
    assert MetricsSettings.from_env(env) == MetricsSettings(
        port=9400, pushgateway_url="http://gw:9091"
    )
    explicit = MetricsSettings.from_env(env, port=0, pushgateway_url="http://mine:9091")
    assert (explicit.port, explicit.pushgateway_url) == (0, "http://mine:9091")
    assert not MetricsSettings.from_env({}).enabled
    assert not MetricsSettings.from_env({"VLAA_METRICS_PORT": " "}).enabled


def test_from_env_ignores_malformed_values(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vlaa.observability")
    assert MetricsSettings.from_env({"VLAA_METRICS_PORT": "http"}).port is None
    assert MetricsSettings.from_env({"VLAA_METRICS_PORT": "70000"}).port is None
    assert "VLAA_METRICS_PORT" in caplog.text


def test_metrics_callbacks_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLAA_METRICS_PORT", raising=False)
    monkeypatch.delenv("VLAA_PUSHGATEWAY_URL", raising=False)
    assert metrics_callbacks("grpo", "r", "base") == []
    assert metrics_callbacks("grpo", "r", "base", MetricsSettings()) == []
    monkeypatch.setenv("VLAA_PUSHGATEWAY_URL", "http://gw:9091")
    (cb,) = metrics_callbacks("grpo", "r", "base")
    assert isinstance(cb, PrometheusCallback)
    assert cb.metrics.labels == {"run_id": "r", "stage": "grpo", "arm": "base"}
    assert cb.port is None
    (served,) = metrics_callbacks("sft", "r", "sft", MetricsSettings(port=0))
    assert isinstance(served, PrometheusCallback)
    assert served.pusher is None


def test_eval_scores_without_a_gateway_are_not_pushed() -> None:
    from vlaa.observability import push_eval_scores

    assert push_eval_scores("run-1", "base", {"accuracy": 0.5}, MetricsSettings()) is False


def test_eval_score_push_to_a_closed_port_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    from vlaa.observability import push_eval_scores

    settings = MetricsSettings(pushgateway_url=f"http://127.0.0.1:{free_port()}")
    assert push_eval_scores("run-1", "base", {"accuracy": 0.5}, settings) is False
    assert "metrics push" in caplog.text
