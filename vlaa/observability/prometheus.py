"""Training metrics in a private Prometheus registry, a /metrics server and a Pushgateway pusher.

Every series carries the labels ``run_id``, ``stage`` and ``arm``;
the per-type reward series add ``reward_type``. Everything here is best effort: a failure to
serve or to push is logged and counted, never raised. Pushing is in
:mod:`vlaa.observability.pushing`.
"""

from __future__ import annotations

import logging
import numbers
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import start_http_server

from vlaa.records import REWARD_TYPES

log = logging.getLogger(__name__)

LABELS: tuple[str, ...] = ("run_id", "stage", "arm")
PUSH_JOB = "vlaa"


@dataclass(frozen=True)
class LogMetric:
    """One gauge fed from trainer log dicts: the first of ``keys`` present in a log sets it."""

    name: str
    keys: tuple[str, ...]
    help: str


# The one table from trainer log keys to gauges. Keys are what TRL 1.16 puts in `on_log`:
# GRPOTrainer (reward*, kl, clip_ratio/*, completions/*, step_time, num_tokens), SFTTrainer
# (mean_token_accuracy, num_tokens, entropy) and transformers' Trainer (loss, grad_norm,
# learning_rate, epoch). Extend it here; a key missing from a log leaves its gauge unchanged.
LOG_METRICS: tuple[LogMetric, ...] = (
    LogMetric("vlaa_reward_mean", ("reward",), "Mean reward of the logged rollouts."),
    LogMetric("vlaa_reward_std", ("reward_std",), "Standard deviation of the rewards."),
    LogMetric(
        "vlaa_reward_zero_std_ratio",
        ("frac_reward_zero_std",),
        "Share of prompt groups whose rewards are all equal (no learning signal).",
    ),
    LogMetric("vlaa_kl", ("kl",), "KL divergence of the policy to the reference model."),
    # Logged by vlaa.training.kl_control (adaptive KL); constant without it.
    LogMetric("vlaa_kl_coefficient", ("beta",), "KL coefficient (beta) in use."),
    LogMetric("vlaa_loss", ("loss",), "Training loss."),
    LogMetric("vlaa_entropy", ("entropy",), "Mean token entropy of the policy."),
    LogMetric(
        "vlaa_mean_token_accuracy",
        ("mean_token_accuracy",),
        "SFT next-token accuracy on the trained tokens.",
    ),
    LogMetric(
        "vlaa_completion_length_mean", ("completions/mean_length",), "Mean completion tokens."
    ),
    LogMetric("vlaa_completion_length_min", ("completions/min_length",), "Min completion tokens."),
    LogMetric("vlaa_completion_length_max", ("completions/max_length",), "Max completion tokens."),
    LogMetric(
        "vlaa_completion_truncated_ratio",
        ("completions/clipped_ratio",),
        "Share of completions cut at max_completion_length.",
    ),
    LogMetric(
        "vlaa_clip_ratio",
        ("clip_ratio/region_mean",),
        "Share of tokens whose importance ratio was clipped (either side).",
    ),
    LogMetric("vlaa_grad_norm", ("grad_norm",), "Gradient norm before clipping."),
    LogMetric("vlaa_learning_rate", ("learning_rate",), "Learning rate."),
    LogMetric("vlaa_epoch", ("epoch",), "Fractional epoch."),
    LogMetric("vlaa_tokens_processed", ("num_tokens",), "Tokens trained on so far (cumulative)."),
    # TRL's own time inside training_step; without it the callback measures between steps.
    LogMetric("vlaa_step_time_seconds", ("step_time",), "Seconds per optimizer step."),
)

# Per reward type: TRL logs rewards/<name>/mean and /std for each reward function, and
# vlaa.training.reward_router names one function per reward type.
REWARD_TYPE_KEY = re.compile(rf"^rewards/(?P<type>{'|'.join(REWARD_TYPES)})/(?P<stat>mean|std)$")
REWARD_TYPE_METRICS: dict[str, tuple[str, str]] = {
    "mean": ("vlaa_reward_by_type_mean", "Mean reward of the samples of one reward type."),
    "std": ("vlaa_reward_by_type_std", "Standard deviation of the rewards of one reward type."),
}
TOKENS_KEY = "num_tokens"
STEP_TIME_KEY = "step_time"
STEP_TIME_METRIC = "vlaa_step_time_seconds"


def _number(value: Any) -> float | None:
    """A log value as a float, or None for what is not a number (None, strings, bools)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


class TrainingMetrics:
    """The gauges of one run (labels fixed at construction) in a private registry."""

    def __init__(
        self, run_id: str, stage: str, arm: str, registry: CollectorRegistry | None = None
    ) -> None:
        self.labels: dict[str, str] = {"run_id": run_id, "stage": stage, "arm": arm}
        # Private, so two runs in one process (tests, notebooks) never share series.
        self.registry = registry if registry is not None else CollectorRegistry()
        self._gauges: dict[str, Gauge] = {
            spec.name: Gauge(spec.name, spec.help, LABELS, registry=self.registry)
            for spec in LOG_METRICS
        }
        self._by_type: dict[str, Gauge] = {
            stat: Gauge(name, doc, (*LABELS, "reward_type"), registry=self.registry)
            for stat, (name, doc) in REWARD_TYPE_METRICS.items()
        }
        self.tokens_per_second = Gauge(
            "vlaa_tokens_per_second",
            "Tokens trained on per wall-clock second since the previous log.",
            LABELS,
            registry=self.registry,
        )
        self.train_step = Gauge(
            "vlaa_train_step", "Global optimizer step.", LABELS, registry=self.registry
        )
        self.push_failures = Counter(
            "vlaa_metrics_push_failures",
            "Failed pushes to the Pushgateway.",
            LABELS,
            registry=self.registry,
        )
        self.push_dropped = Counter(
            "vlaa_metrics_push_dropped",
            "Pushes dropped unsent because the push queue was full (the gateway is slow).",
            LABELS,
            registry=self.registry,
        )
        # Exported as 0 from the start, so "no failures" is a value, not a missing series.
        self.push_failures.labels(**self.labels)
        self.push_dropped.labels(**self.labels)
        self._last_tokens: tuple[float, float] | None = None  # (tokens, monotonic seconds)
        self._last_step_end: float | None = None
        self._measured_step_seconds: float | None = None
        self._trainer_step_time = False  # whether the trainer logs its own step_time

    def start(self, now: float, tokens: float | None = None) -> None:
        """Mark the start of training: the baseline of step time and tokens/s."""
        self._last_step_end = now
        self._last_tokens = (tokens, now) if tokens is not None else None

    def step_end(self, step: int, now: float) -> None:
        """Record the global step and the wall seconds since the previous step ended."""
        self.train_step.labels(**self.labels).set(step)
        if self._last_step_end is not None and now > self._last_step_end:
            self._measured_step_seconds = now - self._last_step_end
        self._last_step_end = now

    def observe_log(self, logs: Mapping[str, Any], now: float, step: int | None = None) -> None:
        """Set every gauge whose key is in ``logs`` (one trainer ``on_log`` dict)."""
        if step is not None:
            self.train_step.labels(**self.labels).set(step)
        for spec in LOG_METRICS:
            for key in spec.keys:
                value = _number(logs.get(key))
                if value is not None:
                    self._gauges[spec.name].labels(**self.labels).set(value)
                    break
        self._trainer_step_time = self._trainer_step_time or STEP_TIME_KEY in logs
        if not self._trainer_step_time and self._measured_step_seconds is not None:
            # TRL's SFTTrainer (and plain transformers) log no step time: use the measured one.
            # Once the trainer logged its own, later logs without it (the end-of-training
            # summary) must not overwrite it with a measurement of a different span.
            step_time = self._gauges[STEP_TIME_METRIC].labels(**self.labels)
            step_time.set(self._measured_step_seconds)
        for key, raw in logs.items():
            match = REWARD_TYPE_KEY.match(key)
            value = _number(raw)
            if match and value is not None:
                gauge = self._by_type[match["stat"]]
                gauge.labels(**self.labels, reward_type=match["type"]).set(value)
        self._observe_tokens(_number(logs.get(TOKENS_KEY)), now)

    def _observe_tokens(self, tokens: float | None, now: float) -> None:
        # TRL logs the cumulative token count; the rate is its change over wall time.
        if tokens is None:
            return
        if self._last_tokens is not None:
            last_tokens, last_time = self._last_tokens
            elapsed = now - last_time
            if elapsed > 0 and tokens >= last_tokens:
                self.tokens_per_second.labels(**self.labels).set((tokens - last_tokens) / elapsed)
        self._last_tokens = (tokens, now)

    def sample(self, name: str, **extra_labels: str) -> float | None:
        """The current value of series ``name`` of this run (None if never set)."""
        return self.registry.get_sample_value(name, {**self.labels, **extra_labels})


class MetricsServer:
    """prometheus_client's /metrics HTTP server on a daemon thread, stoppable."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_address[1]

    @classmethod
    def start(cls, registry: CollectorRegistry, port: int, host: str) -> MetricsServer | None:
        """Serve ``registry`` on ``host:port`` (0: a free port); None with a warning if the
        port cannot be bound (in use, no permission)."""
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except Exception as error:  # a busy port must not stop training
            log.warning(
                "not serving training metrics on %s:%d (%s: %s); training goes on",
                host,
                port,
                type(error).__name__,
                error,
            )
            return None
        return cls(server, thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port."""
        try:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout)
        except Exception as error:
            log.warning("stopping the metrics server failed: %s", error)
