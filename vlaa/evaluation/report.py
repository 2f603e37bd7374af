"""The evaluation report: what the evaluate step writes and publish, compare and metrics read.

One typed model, :class:`EvalReport`, replaces the flat dict that each reader used to parse
with its own regexes and prefixes. It serializes to exactly the JSON the evaluate step wrote
before (same file name, same keys), so old readers and KFP's Metrics artifact keep working:

- ``metrics``: flat ``{name: number}``, the KFP Metrics artifact's content: ``accuracy``
  (synthetic eval split), ``accuracy_<reward type>``, ``format_rate``,
  ``mean_completion_chars``, ``num_samples`` and, with benchmarks, ``accuracy_<benchmark>``,
  ``score_<benchmark>`` (the paper's headline metric) and ``benchmark_average``;
- ``samples``: the eval split's scored rows;
- ``benchmarks``: per benchmark, its aggregate (:class:`BenchmarkResult`) and rows;
- ``protocol``: decoding settings, backend, timings;
- ``label``: which model (``base``, ``trained``, an arm).

The typed accessors (``accuracy``, ``benchmark_scores``, ``benchmark_average``,
``accuracy_scores``, ``score_metrics``) are the only place that knows how metric names are
spelled. A report reduced to its flat metrics (a manifest, ``vlaa publish --metrics`` of an
old file, a test) is still a valid report: the accessors then read the ``score_<benchmark>``
and ``benchmark_average`` metrics. Torch-free.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from statistics import fmean
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vlaa.benchmarks import BENCHMARKS
from vlaa.errors import UserError

ACCURACY = "accuracy"
BENCHMARK_AVERAGE = "benchmark_average"
FORMAT_RATE = "format_rate"
SCORE_PREFIX = "score_"
ACCURACY_NAME = re.compile(r"accuracy(_[A-Za-z0-9][A-Za-z0-9_.-]*)?")


class EvalReportError(UserError, ValueError):
    """A file that should hold an evaluation report does not."""


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (booleans and NaN are not scores)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def accuracy_metric(benchmark_or_type: str) -> str:
    return f"{ACCURACY}_{benchmark_or_type}"


def score_metric(benchmark: str) -> str:
    return f"{SCORE_PREFIX}{benchmark}"


def is_score_name(name: str) -> bool:
    """Metrics that are scores in [0, 1]: accuracies, headline scores, their average, format."""
    return (
        ACCURACY_NAME.fullmatch(name) is not None
        or name.startswith(SCORE_PREFIX)
        or name in (BENCHMARK_AVERAGE, FORMAT_RATE)
    )


class BenchmarkResult(BaseModel):
    """One benchmark's aggregate (``vlaa.benchmarks.aggregate``) and its scored rows.

    Fields are optional so a hand-written base report with only ``headline`` still reads;
    benchmark-specific extras (DynaMath's worst case, WeMath's counts) and ``empty_items``
    (items kept with an empty question or answer, scored as misses) stay as extra fields, so
    older reports without them round-trip unchanged.
    """

    model_config = ConfigDict(extra="allow")

    n: int | None = None
    accuracy: float | None = None
    headline_metric: str = ACCURACY
    headline: float | None = None
    samples: list[dict[str, Any]] = Field(default_factory=list)

    def extra(self, name: str) -> Any:
        """A benchmark-specific value (``worst_case_accuracy``, ``IK`` ...), or ``None``."""
        return (self.model_extra or {}).get(name)


class EvalReport(BaseModel):
    """One model's evaluation; serializes to the evaluate step's JSON (module docstring)."""

    # Unknown keys are kept so a report written by a newer step round-trips unchanged.
    model_config = ConfigDict(extra="allow")

    metrics: dict[str, Any] = Field(default_factory=dict)
    samples: list[dict[str, Any]] = Field(default_factory=list)
    benchmarks: dict[str, BenchmarkResult] = Field(default_factory=dict)
    protocol: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any]) -> EvalReport:
        """A report known only by its flat metrics."""
        return cls(metrics=dict(metrics))

    # ------------------------------------------------------------------------- accessors

    def numeric_metrics(self) -> dict[str, float]:
        """The flat metrics that are finite numbers, in report order."""
        found = {}
        for name, value in self.metrics.items():
            number = finite_number(value)
            if number is not None:
                found[str(name)] = number
        return found

    @property
    def accuracy(self) -> float | None:
        """Accuracy on the synthetic eval split."""
        return finite_number(self.metrics.get(ACCURACY))

    @property
    def accuracy_scores(self) -> dict[str, float]:
        """``accuracy`` and every ``accuracy_<reward type | benchmark>`` metric."""
        return {
            name: value
            for name, value in self.numeric_metrics().items()
            if ACCURACY_NAME.fullmatch(name)
        }

    @property
    def benchmark_scores(self) -> dict[str, float]:
        """Headline score per benchmark (fractions, registry order); empty without benchmarks.

        From ``benchmarks`` when the report has them, else from the flat ``score_<name>``
        metrics (a report reduced to its metrics).
        """
        scores: dict[str, float] = {}
        for name in BENCHMARKS:
            if self.benchmarks:
                result = self.benchmarks.get(name)
                value = finite_number(result.headline) if result is not None else None
            else:
                value = finite_number(self.metrics.get(score_metric(name)))
            if value is not None:
                scores[name] = value
        return scores

    @property
    def benchmark_average(self) -> float | None:
        """Mean headline score over the benchmarks; ``None`` when the report has none."""
        recorded = finite_number(self.metrics.get(BENCHMARK_AVERAGE))
        if recorded is not None:
            return recorded
        scores = self.benchmark_scores
        return round(fmean(scores.values()), 4) if scores else None

    def score_metrics(self) -> dict[str, float]:
        """Every numeric metric that is a score in [0, 1] (``is_score_name``), in report order."""
        return {name: v for name, v in self.numeric_metrics().items() if is_score_name(name)}


def as_report(value: EvalReport | Mapping[str, Any] | None) -> EvalReport:
    """A report as is; a mapping as a report's flat metrics; ``None`` as an empty report."""
    if isinstance(value, EvalReport):
        return value
    return EvalReport.from_metrics(value or {})


def read_report(path: Path, *, missing_ok: bool = False) -> EvalReport:
    """The report in ``path``; an empty report if the file is missing and ``missing_ok``."""
    path = Path(path)
    if missing_ok and not path.is_file():
        return EvalReport()
    try:
        return EvalReport.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise EvalReportError(
            f"{path} is not an evaluation report: {where}: {first['msg']}"
        ) from error


def write_report(report: EvalReport, path: Path) -> None:
    """Write the report as the evaluate step always did (indented JSON)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.model_dump(mode="json"), indent=2, default=str))
