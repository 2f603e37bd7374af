"""Prometheus metrics of training runs (best effort: a metrics outage never stops training).

``vlaa.observability.callback.metrics_callbacks(stage, run_id, arm)`` gives the trainer callbacks
(that module imports transformers, so it is not imported here); ``MetricsSettings`` says
where the metrics go (a /metrics port for a PodMonitor, a Pushgateway, or both). The metric names
and the trainer log keys feeding them are in ``vlaa.observability.prometheus.LOG_METRICS``.
"""

from vlaa.observability.evaluation import EVAL_SCORE, push_eval_scores
from vlaa.observability.prometheus import LOG_METRICS, TrainingMetrics
from vlaa.observability.settings import MetricsSettings

__all__ = [
    "EVAL_SCORE",
    "LOG_METRICS",
    "MetricsSettings",
    "TrainingMetrics",
    "push_eval_scores",
]
