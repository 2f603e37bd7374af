"""Prometheus metrics of training runs (best effort: a metrics outage never stops training).

``metrics_callbacks(stage, run_id, arm)`` gives the trainer callbacks; ``MetricsSettings`` says
where the metrics go (a /metrics port for a PodMonitor, a Pushgateway, or both). The metric names
and the trainer log keys feeding them are in ``vlaa.observability.prometheus.LOG_METRICS``.
"""

from vlaa.observability.callback import PrometheusCallback, metrics_callbacks
from vlaa.observability.evaluation import EVAL_SCORE, push_eval_scores
from vlaa.observability.prometheus import LOG_METRICS, TrainingMetrics
from vlaa.observability.settings import MetricsSettings

__all__ = [
    "EVAL_SCORE",
    "LOG_METRICS",
    "MetricsSettings",
    "PrometheusCallback",
    "TrainingMetrics",
    "metrics_callbacks",
    "push_eval_scores",
]
