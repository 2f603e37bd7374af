"""The gate's margin over the base model decides on benchmark scores when the reports have them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_publish import DATA_CARD, LINEAGE, MODEL, make_model, manifest_of, read_card

from vlaa.evaluation.report import EvalReport, write_report
from vlaa.registry.config import PublishConfig
from vlaa.registry.gate import gate_decision
from vlaa.registry.publish import publish

# Higher synthetic accuracy than the base model, but a lower benchmark average.
TRAINED = {"accuracy": 0.6, "score_mathvista": 0.3, "score_wemath": 0.2, "benchmark_average": 0.25}
BASE = {"accuracy": 0.4, "score_mathvista": 0.4, "score_wemath": 0.3, "benchmark_average": 0.35}
ONLY_ACCURACY = ("accuracy",)


def _only(metrics: dict[str, float], keys: tuple[str, ...]) -> dict[str, float]:
    return {key: value for key, value in metrics.items() if key in keys}


def _config(store_dir: Path, **overrides: Any) -> PublishConfig:
    return PublishConfig(
        store_uri=str(store_dir), model_name=MODEL, gate_min_average_delta=0.0, **overrides
    )


def _publish(tmp_path: Path, metrics: Any, base: Any) -> Any:
    store_dir = tmp_path / "registry"
    result = publish(
        make_model(tmp_path / "model"),
        _config(store_dir),
        metrics,
        {"learning_rate": 1e-6},
        DATA_CARD,
        LINEAGE,
        base_metrics=base,
    )
    return result, manifest_of(store_dir, result.version)["gate"], read_card(store_dir)[1]


def test_higher_accuracy_but_lower_benchmark_average_is_refused(tmp_path: Path) -> None:
    result, gate, card = _publish(tmp_path, TRAINED, BASE)
    assert not result.promoted
    assert "benchmark average 0.25 is below base model's 0.35 + margin 0" in result.reason
    assert gate["basis"] == "benchmark_average" and result.gate["basis"] == "benchmark_average"
    assert gate["average"] == 0.25 and gate["base_average"] == 0.35
    assert gate["checks"][0]["basis"] == "benchmark_average"
    assert "Gate basis: `benchmark_average`" in card and "FAIL: " in card


def test_the_same_model_passes_on_accuracy_alone(tmp_path: Path) -> None:
    trained, base = _only(TRAINED, ONLY_ACCURACY), _only(BASE, ONLY_ACCURACY)
    result, gate, card = _publish(tmp_path, trained, base)
    assert result.promoted
    assert "average score 0.6 >= base model's 0.4" in result.reason
    assert gate["basis"] == "accuracy" and gate["average"] == 0.6
    assert "Gate basis: `accuracy`" in card


def _full_report(label: str, accuracy: float, scores: dict[str, float]) -> EvalReport:
    """A report as the evaluate step writes it: benchmarks section and flat metrics."""
    metrics = {"accuracy": accuracy, "format_rate": 1.0}
    for name, value in scores.items():
        metrics |= {f"accuracy_{name}": value, f"score_{name}": value}
    metrics["benchmark_average"] = round(sum(scores.values()) / len(scores), 4)
    benchmarks = {
        name: {"n": 10, "accuracy": value, "headline_metric": "accuracy", "headline": value}
        for name, value in scores.items()
    }
    return EvalReport.model_validate(
        {"label": label, "metrics": metrics, "benchmarks": benchmarks, "protocol": {}}
    )


def test_the_publish_component_reads_the_reports_and_refuses(tmp_path: Path) -> None:
    """The component's runtime reads both JSON reports; the gate compares benchmark scores."""
    from vlaa.components.publish.runtime import run

    reports = {
        "eval": _full_report("trained", 0.6, {"mathvista": 0.3, "wemath": 0.2}),
        "base": _full_report("base", 0.4, {"mathvista": 0.4, "wemath": 0.3}),
    }
    for name, report in reports.items():
        write_report(report, tmp_path / f"{name}.json")
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "dataset.json").write_text(json.dumps({"dataset_hash": "sha256:d"}))
    published = SimpleNamespace(
        path=str(tmp_path / "published.json"), uri=str(tmp_path / "published.json"), metadata={}
    )
    run(
        {
            "model": SimpleNamespace(
                path=str(make_model(tmp_path / "model")),
                uri=str(make_model(tmp_path / "model")),
                metadata={},
            ),
            "eval_report": SimpleNamespace(
                path=str(tmp_path / "eval.json"), uri=str(tmp_path / "eval.json")
            ),
            "base_report": SimpleNamespace(
                path=str(tmp_path / "base.json"), uri=str(tmp_path / "base.json")
            ),
            "card_files": SimpleNamespace(path=str(tmp_path / "card"), uri=str(tmp_path / "card")),
            "config": _config(tmp_path / "registry").model_dump(),
            "arm": "sft",
            "run_id": "run-1",
            "published": published,
            "model_card": SimpleNamespace(
                path=str(tmp_path / "README.md"), uri=str(tmp_path / "README.md")
            ),
        }
    )
    assert published.metadata["promoted"] is False
    assert published.metadata["gate"]["basis"] == "benchmark_average"
    assert "Gate basis: `benchmark_average`" in (tmp_path / "README.md").read_text()


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (_only(BASE, ONLY_ACCURACY), "the base model's eval report has no benchmark scores"),
        (
            {"accuracy": 0.4, "score_mathvista": 0.1, "benchmark_average": 0.1},
            "scored on mathvista, wemath but the base model on mathvista",
        ),
    ],
)
def test_a_base_model_without_the_same_benchmarks_cannot_pass(
    base: dict[str, float], expected: str
) -> None:
    config = PublishConfig(gate_min_average_delta=-1.0)  # any margin: still not comparable
    decision = gate_decision(config, EvalReport.from_metrics(TRAINED), EvalReport(metrics=base))
    assert not decision.passed and decision.basis == "benchmark_average"
    assert expected in decision.reason


def test_the_card_names_no_basis_without_a_comparison(tmp_path: Path) -> None:
    store_dir = tmp_path / "registry"
    config = PublishConfig(store_uri=str(store_dir), model_name=MODEL)
    result = publish(make_model(tmp_path / "model"), config, TRAINED, {}, {}, {})
    assert result.promoted and result.gate["basis"] == "benchmark_average"  # what "average" is
    assert "Gate basis" not in read_card(store_dir)[1]
