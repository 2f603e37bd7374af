"""The typed evaluation report: same JSON as before, one place that knows the metric names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vlaa.evaluation.report import (
    BenchmarkResult,
    EvalReport,
    EvalReportError,
    as_report,
    read_report,
    write_report,
)
from vlaa.modeling.vllm import vllm_available, vllm_unavailable_message

# The evaluate step's JSON as it was written before the typed report (one benchmark).
LEGACY_JSON = {
    "metrics": {
        "accuracy": 0.5,
        "format_rate": 1.0,
        "mean_completion_chars": 12.0,
        "num_samples": 2.0,
        "accuracy_digit": 0.5,
        "accuracy_mathvista": 0.75,
        "score_mathvista": 0.75,
        "benchmark_average": 0.75,
    },
    "samples": [{"id": "e1", "reward_type": "digit", "score": 1.0, "completion": "x"}],
    "benchmarks": {
        "mathvista": {
            "n": 4,
            "accuracy": 0.75,
            "headline_metric": "accuracy",
            "headline": 0.75,
            "samples": [{"id": "m1", "correct": True}],
        }
    },
    "protocol": {"max_new_tokens": 8, "backend": "transformers", "paper_reference": None},
    "label": "trained",
}


def test_report_reads_and_writes_the_same_json(tmp_path: Path) -> None:
    source = tmp_path / "old.json"
    source.write_text(json.dumps(LEGACY_JSON))
    report = read_report(source)
    assert report.label == "trained" and report.benchmarks["mathvista"].n == 4
    written = tmp_path / "new.json"
    write_report(report, written)
    assert json.loads(written.read_text()) == LEGACY_JSON


def test_accessors_of_a_full_report() -> None:
    report = EvalReport.model_validate(LEGACY_JSON)
    assert report.accuracy == 0.5
    assert report.benchmark_scores == {"mathvista": 0.75}
    assert report.benchmark_average == 0.75
    assert report.accuracy_scores == {
        "accuracy": 0.5,
        "accuracy_digit": 0.5,
        "accuracy_mathvista": 0.75,
    }
    assert set(report.score_metrics()) == {
        "accuracy",
        "format_rate",
        "accuracy_digit",
        "accuracy_mathvista",
        "score_mathvista",
        "benchmark_average",
    }


def test_a_report_known_only_by_its_flat_metrics() -> None:
    flat = as_report({"accuracy": 0.4, "score_wemath": 0.2, "score_mathvista": 0.6, "x": "y"})
    assert flat.benchmark_scores == {"mathvista": 0.6, "wemath": 0.2}  # registry order
    assert flat.benchmark_average == pytest.approx(0.4)  # no recorded average: the mean
    synthetic = as_report({"accuracy": float("nan"), "accuracy_mcq": 0.25})
    assert synthetic.accuracy is None and synthetic.benchmark_average is None
    assert synthetic.benchmark_scores == {} and synthetic.accuracy_scores == {"accuracy_mcq": 0.25}
    assert as_report(None) == EvalReport()


def test_benchmark_headlines_come_from_the_benchmarks_section() -> None:
    report = EvalReport(
        benchmarks={"wemath": BenchmarkResult(headline=0.3, IK=0.1), "dynamath": {"headline": 0.1}}
    )
    assert report.benchmark_scores == {"dynamath": 0.1, "wemath": 0.3}
    assert report.benchmark_average == pytest.approx(0.2)
    assert report.benchmarks["wemath"].extra("IK") == 0.1


def test_read_report_missing_and_malformed(tmp_path: Path) -> None:
    assert read_report(tmp_path / "absent.json", missing_ok=True) == EvalReport()
    with pytest.raises(FileNotFoundError):
        read_report(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"metrics": [1, 2]}))
    with pytest.raises(EvalReportError, match=r"bad\.json is not an evaluation report: metrics"):
        read_report(bad)


def test_configs_and_report_import_without_torch() -> None:
    modules = (
        "vlaa.evaluation.config",
        "vlaa.evaluation.report",
        "vlaa.evaluation.compare",
        "vlaa.registry.config",
        "vlaa.modeling.vllm",
    )
    code = (
        f"import sys; import {', '.join(modules)}; "
        "print([m for m in ('torch', 'transformers', 'trl') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_one_vllm_check_and_one_wording(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert vllm_available() is False
    message = vllm_unavailable_message("grpo.use_vllm is 'yes'", "use 'auto' or 'no'")
    assert message == (
        "grpo.use_vllm is 'yes' but vLLM cannot run here (it needs a CUDA GPU and the vllm "
        "package); use 'auto' or 'no'"
    )
