"""A transformers ``TrainerCallback`` that exports trainer logs to Prometheus (best effort)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from vlaa.observability.prometheus import MetricsServer, TrainingMetrics
from vlaa.observability.pushing import BackgroundPusher, Pusher
from vlaa.observability.settings import MetricsSettings

log = logging.getLogger(__name__)


class PrometheusCallback(TrainerCallback):
    """Feeds every trainer log into :class:`TrainingMetrics`; serves and/or pushes them.

    The /metrics server runs from ``on_train_begin`` to ``on_train_end`` (``.port`` is the bound
    port, None when not serving); a push follows every log and the end of training. Pushes run
    on a background thread (``vlaa.observability.pushing``): a hook only snapshots the
    registry, so a slow or silent gateway never stalls a step; ``on_train_end`` waits at most
    one push deadline for the last ones. Only the world-process-zero acts, so ranks neither
    fight for the port nor push duplicates. No hook raises: an exporter bug is logged, and
    training goes on.
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
        self.pusher: BackgroundPusher | None = None
        if settings.pushgateway_url:
            pusher = Pusher(
                settings.pushgateway_url,
                self.metrics,
                timeout=settings.push_timeout_seconds,
                warn_every=settings.warn_every,
            )
            self.pusher = BackgroundPusher(pusher, queue_size=settings.push_queue_size)
        self.server: MetricsServer | None = None
        self._clock = clock

    @property
    def port(self) -> int | None:
        """The port /metrics is served on right now, or None."""
        return self.server.port if self.server is not None else None

    @property
    def push_failures(self) -> int:
        """Failed pushes so far (sent ones; see ``flush``)."""
        return self.pusher.pusher.failures if self.pusher is not None else 0

    @property
    def push_dropped(self) -> int:
        """Pushes dropped unsent (queue full, or still queued when training ended)."""
        return self.pusher.dropped if self.pusher is not None else 0

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

    def push(self) -> None:
        """Queue a push of the metrics as they are now, if a Pushgateway is configured."""
        if self.pusher is not None:
            self._guarded(self.pusher.submit)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until queued pushes were sent (at most ``timeout``, default one push deadline)."""
        if self.pusher is None:
            return True
        return self.pusher.flush(self._flush_timeout if timeout is None else timeout)

    def close(self) -> None:
        """Send what is queued (waiting at most one push deadline), stop the pusher and the
        /metrics server (idempotent); also safe after a failed training."""
        if self.pusher is not None:
            self.pusher.close(self._flush_timeout)
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def _flush_timeout(self) -> float:
        return self.settings.push_timeout_seconds

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
