"""Data-build counters for Prometheus: rows read, rows dropped per step and reason, rows kept.

The build is a batch job, so its counters go to the Pushgateway (grouped like training runs by
``run_id``/``stage``/``arm`` with ``stage="build_dataset"``, ``arm="none"``), pushed at most every
``push_interval_seconds`` while the build runs and once at the end. The alert
``VlaaDataBuildDropShareHigh`` divides ``vlaa_data_records_dropped_total`` by
``vlaa_data_records_input_total``. Best effort: a Pushgateway outage never stops a build.
"""

from __future__ import annotations

import time

from prometheus_client import Counter

from vlaa.observability.prometheus import LABELS, TrainingMetrics
from vlaa.observability.pushing import Pusher
from vlaa.observability.settings import MetricsSettings

DATA_STAGE = "build_dataset"
DATA_ARM = "none"


class DataBuildMetrics:
    """Counters of one dataset build; ``flush`` pushes them when a Pushgateway is configured."""

    def __init__(
        self,
        run_id: str,
        settings: MetricsSettings | None = None,
        push_interval_seconds: float = 15.0,
    ) -> None:
        self.series = TrainingMetrics(run_id=run_id or "local", stage=DATA_STAGE, arm=DATA_ARM)
        registry = self.series.registry
        self.labels = self.series.labels
        self.input = Counter(
            "vlaa_data_records_input",
            "Source rows read by the data build.",
            LABELS,
            registry=registry,
        )
        self.dropped = Counter(
            "vlaa_data_records_dropped",
            "Rows the data build quarantined (step=validate) or dropped (a teacher step).",
            (*LABELS, "step", "reason"),
            registry=registry,
        )
        self.kept = Counter(
            "vlaa_data_records_kept",
            "Records the data build wrote to a split.",
            (*LABELS, "split"),
            registry=registry,
        )
        self.input.labels(**self.labels)  # 0 from the start: a value, not a missing series
        settings = settings or MetricsSettings.from_env()
        self._pusher = (
            Pusher(
                settings.pushgateway_url,
                self.series,
                timeout=settings.push_timeout_seconds,
                warn_every=settings.warn_every,
            )
            if settings.pushgateway_url
            else None
        )
        self._interval = push_interval_seconds
        self._last_push = 0.0

    def count_input(self) -> None:
        self.input.labels(**self.labels).inc()
        self.maybe_push()

    def count_dropped(self, step: str, reason: str) -> None:
        self.dropped.labels(**self.labels, step=step, reason=reason).inc()
        self.maybe_push()

    def count_kept(self, split: str) -> None:
        self.kept.labels(**self.labels, split=split).inc()
        self.maybe_push()

    def maybe_push(self) -> None:
        if self._pusher and time.monotonic() - self._last_push >= self._interval:
            self.flush()

    def flush(self) -> bool:
        """Push now; False when no Pushgateway is configured or the push failed."""
        if self._pusher is None:
            return False
        self._last_push = time.monotonic()
        return self._pusher.push()

    def sample(self, name: str, **extra_labels: str) -> float | None:
        return self.series.sample(name, **extra_labels)
