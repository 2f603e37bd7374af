"""A transformers ``TrainerCallback`` that exports trainer logs to Prometheus (best effort)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from vlaa.observability.prometheus import MetricsServer, Pusher, TrainingMetrics
from vlaa.observability.settings import MetricsSettings

log = logging.getLogger(__name__)


class PrometheusCallback(TrainerCallback):
    """Feeds every trainer log into :class:`TrainingMetrics`; serves and/or pushes them.

    The /metrics server runs from ``on_train_begin`` to ``on_train_end`` (``.port`` is the bound
    port, None when not serving); a push follows every log and the end of training. Only the
    world-process-zero acts, so ranks neither fight for the port nor push duplicates. No hook
    raises: an exporter bug is logged, and training goes on.
    """

    def __init__(
        self,
        stage: str,
        run_id: str,
        arm: str,
        settings: MetricsSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.metrics = TrainingMetrics(run_id=run_id, stage=stage, arm=arm)
        self.pusher: Pusher | None = None
        if settings.pushgateway_url:
            self.pusher = Pusher(
                settings.pushgateway_url,
                self.metrics,
                timeout=settings.push_timeout_seconds,
                warn_every=settings.warn_every,
            )
        self.server: MetricsServer | None = None
        self._clock = clock

    @property
    def port(self) -> int | None:
        """The port /metrics is served on right now, or None."""
        return self.server.port if self.server is not None else None

    @property
    def push_failures(self) -> int:
        """Failed pushes so far."""
        return self.pusher.failures if self.pusher is not None else 0

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        self._guarded(self._begin, state)

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        self._guarded(self.metrics.step_end, state.global_step, self._clock())

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        self._guarded(self.metrics.observe_log, logs, self._clock(), state.global_step)
        self.push()

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        self.push()
        self.close()

    def push(self) -> bool:
        """Push now if a Pushgateway is configured; False on failure or when none is."""
        return self.pusher.push() if self.pusher is not None else False

    def close(self) -> None:
        """Stop the /metrics server (idempotent); also safe after a failed training."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _begin(self, state: TrainerState) -> None:
        tokens = float(state.num_input_tokens_seen or 0)
        self.metrics.start(self._clock(), tokens)
        if self.settings.port is not None and self.server is None:
            self.server = MetricsServer.start(
                self.metrics.registry, self.settings.port, self.settings.host
            )

    def _guarded(self, action: Callable[..., None], *args: Any) -> None:
        try:
            action(*args)
        except Exception:  # metrics must never stop training
            log.warning("training metrics update failed; training goes on", exc_info=True)


def metrics_callbacks(
    stage: str, run_id: str, arm: str, settings: MetricsSettings | None = None
) -> list[TrainerCallback]:
    """The metrics callbacks for one training stage: one :class:`PrometheusCallback` if a port or
    a Pushgateway is configured (``settings`` None: from the environment), else none."""
    settings = settings if settings is not None else MetricsSettings.from_env()
    if not settings.enabled:
        return []
    return [PrometheusCallback(stage=stage, run_id=run_id, arm=arm, settings=settings)]
