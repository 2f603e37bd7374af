"""The promotion gate: whether a published version may move the alias.

Checks (each optional, all configured ones must pass; none configured = promote):

- ``gate_min_accuracy``: the synthetic eval split's ``accuracy`` reaches a threshold;
- ``gate_min_average_delta``: this model's average reaches the base model's average plus a
  margin. The average's **basis** comes from this model's report: ``benchmark_average`` (the
  mean headline score over the paper's benchmarks) when the report has benchmark scores, else
  ``accuracy`` (the synthetic split's accuracy, or the mean of its ``accuracy_*`` metrics).
  The base model's report must offer the same basis, over the same benchmarks;
- ``gate_floors``: per-metric minimums.

The decision records its basis, so the manifest and the model card say what was compared.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from vlaa.evaluation.report import EvalReport, finite_number
from vlaa.registry.card import numeric_leaves
from vlaa.registry.config import PublishConfig

GateBasis = Literal["benchmark_average", "accuracy"]
BASIS_LABELS: dict[str, str] = {
    "benchmark_average": "benchmark average",
    "accuracy": "average score",
}


class GateDecision(BaseModel):
    """The promotion decision: every configured check, and the reason in words."""

    passed: bool
    reason: str
    checks: list[dict[str, Any]] = Field(default_factory=list)
    basis: GateBasis = "accuracy"
    average: float | None = None
    base_average: float | None = None


def _check(name: str, passed: bool, message: str, **values: Any) -> dict[str, Any]:
    return {"check": name, "passed": passed, "message": message, **values}


def gate_basis(report: EvalReport) -> GateBasis:
    """``benchmark_average`` when the report has benchmark scores, else ``accuracy``."""
    return "benchmark_average" if report.benchmark_average is not None else "accuracy"


def average_on(report: EvalReport, basis: GateBasis) -> float | None:
    """The report's average on ``basis``; ``None`` when the report lacks it."""
    if basis == "benchmark_average":
        return report.benchmark_average
    if report.accuracy is not None:
        return report.accuracy
    scores = report.accuracy_scores  # no overall accuracy: the mean of accuracy_<type>
    return sum(scores.values()) / len(scores) if scores else None


def _min_accuracy_check(threshold: float, report: EvalReport) -> dict[str, Any]:
    accuracy = report.metrics.get("accuracy")
    value = finite_number(accuracy)
    if isinstance(accuracy, bool) or not isinstance(accuracy, int | float):
        return _check(
            "min_accuracy",
            False,
            f"metrics have no numeric 'accuracy', so the gate (>= {threshold}) cannot pass",
        )
    if value is None or value < threshold:
        return _check(
            "min_accuracy", False, f"accuracy {accuracy} is below the gate {threshold}", value=value
        )
    return _check("min_accuracy", True, f"accuracy {accuracy} >= gate {threshold}", value=value)


def _missing_basis_message(basis: GateBasis, whose: str, delta: float) -> str:
    if basis == "accuracy":
        return (
            f"{whose} eval report has no accuracy scores, so the average cannot be compared "
            f"with the base model's + {delta}"
        )
    return (
        f"{whose} eval report has no benchmark scores, so this model's benchmark average "
        f"cannot be compared with the base model's + {delta}"
    )


def _average_delta_check(
    delta: float, basis: GateBasis, report: EvalReport, base: EvalReport
) -> dict[str, Any]:
    name = "min_average_delta"
    average, base_average = average_on(report, basis), average_on(base, basis)
    if average is None or base_average is None:
        whose = "this model's" if average is None else "the base model's"
        return _check(name, False, _missing_basis_message(basis, whose, delta), basis=basis)
    ours, theirs = list(report.benchmark_scores), list(base.benchmark_scores)
    if basis == "benchmark_average" and ours and theirs and ours != theirs:
        return _check(
            name,
            False,
            f"this model was scored on {', '.join(ours)} but the base model on "
            f"{', '.join(theirs)}, so their benchmark averages are not comparable",
            basis=basis,
        )
    needed = base_average + delta
    ok = average >= needed - 1e-12
    relation = ">=" if ok else "is below"
    return _check(
        name,
        ok,
        f"{BASIS_LABELS[basis]} {average:.4g} {relation} base model's {base_average:.4g} "
        f"+ margin {delta:g} = {needed:.4g}",
        value=average,
        needed=needed,
        basis=basis,
    )


def _floor_checks(floors: dict[str, float], report: EvalReport) -> list[dict[str, Any]]:
    numeric = dict(numeric_leaves(report.metrics))
    checks = []
    for name, floor in sorted(floors.items()):
        value = finite_number(numeric.get(name))
        if value is None:
            checks.append(
                _check(f"floor:{name}", False, f"metric {name!r} is missing (floor {floor:g})")
            )
        else:
            ok = value >= floor
            relation = ">=" if ok else "is below its floor"
            checks.append(
                _check(f"floor:{name}", ok, f"{name} {value:.4g} {relation} {floor:g}", value=value)
            )
    return checks


def gate_decision(
    config: PublishConfig, report: EvalReport, base: EvalReport | None = None
) -> GateDecision:
    """Whether to promote: all configured checks must pass (none configured = promote)."""
    alias = config.alias
    base = base or EvalReport()
    basis = gate_basis(report)
    averages = {
        "basis": basis,
        "average": average_on(report, basis),
        "base_average": average_on(base, basis),
    }
    checks = []
    if config.gate_min_accuracy is not None:
        checks.append(_min_accuracy_check(config.gate_min_accuracy, report))
    if config.gate_min_average_delta is not None:
        checks.append(_average_delta_check(config.gate_min_average_delta, basis, report, base))
    checks += _floor_checks(config.gate_floors, report)
    if not checks:
        reason = f"no gate configured; promoted to alias {alias!r}"
        return GateDecision(passed=True, reason=reason, **averages)
    passed = all(check["passed"] for check in checks)
    if passed:
        reason = "; ".join(c["message"] for c in checks) + f"; promoted to alias {alias!r}"
    else:
        failed = "; ".join(c["message"] for c in checks if not c["passed"])
        reason = f"{failed}; published but not promoted (alias {alias!r} unchanged)"
    return GateDecision(passed=passed, reason=reason, checks=checks, **averages)
