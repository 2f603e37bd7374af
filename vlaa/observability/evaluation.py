"""Evaluation scores to the Pushgateway: one ``vlaa_eval_score`` series per model and metric.

Eval scores per benchmark belong next to the training curves. An evaluation is a
short batch job, so its scores are pushed once (no /metrics port), grouped like training runs
by ``run_id``/``stage``/``arm`` with ``stage="evaluate"`` and ``arm`` = the evaluated model's
label (``base``, ``trained``, ``sft``, ``grpo``, ``sft-grpo``). Best effort, like all metrics.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Gauge

from vlaa.evaluation.report import EvalReport, as_report
from vlaa.observability.prometheus import LABELS, TrainingMetrics
from vlaa.observability.pushing import Pusher
from vlaa.observability.settings import MetricsSettings

EVAL_SCORE = "vlaa_eval_score"
EVAL_STAGE = "evaluate"


def push_eval_scores(
    run_id: str,
    arm: str,
    report: EvalReport | Mapping[str, float],
    settings: MetricsSettings | None = None,
) -> bool:
    """Push the score metrics of one evaluation (``EvalReport.score_metrics``: accuracies,
    headline scores, their average, format rate); ``report`` may be just its flat metrics.
    False when not configured or the push failed."""
    settings = settings or MetricsSettings.from_env()
    if not settings.pushgateway_url:
        return False
    series = TrainingMetrics(run_id=run_id, stage=EVAL_STAGE, arm=arm)
    gauge = Gauge(
        EVAL_SCORE,
        "Evaluation score of a model (metric: accuracy, accuracy_<type|benchmark>, score_<b>).",
        [*LABELS, "metric"],
        registry=series.registry,
    )
    for name, value in as_report(report).score_metrics().items():
        gauge.labels(**series.labels, metric=name).set(value)
    pusher = Pusher(
        settings.pushgateway_url,
        series,
        timeout=settings.push_timeout_seconds,
        warn_every=settings.warn_every,
    )
    return pusher.push()
