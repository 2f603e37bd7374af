"""Runtime side of the evaluate component: KFP arguments in, ``vlaa.evaluation``, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlaa.components.task_io import TaskIO
from vlaa.evaluation.config import EvaluateStepConfig
from vlaa.evaluation.evaluate import evaluate_model
from vlaa.evaluation.render import write_reports
from vlaa.evaluation.report import read_report, write_report
from vlaa.observability import push_eval_scores
from vlaa.stages import stage


def run(arguments: Mapping[str, Any]) -> None:
    """Evaluate, log every metric, write the JSON, Markdown and HTML reports."""
    io = TaskIO(arguments)
    label = io.param("label")
    with stage(f"evaluate-{label}") as recorder:
        config = EvaluateStepConfig.model_validate(io.param("config"))
        report = evaluate_model(io.path("model"), io.path("eval_split"), config)
        report.label = label
        # File names by type (TaskIO.output_file); later io.path calls see the same names.
        io.output_file("report", ".json")
        io.output_file("report_markdown", ".md")
        io.output_file("report_html", ".html")
        write_report(report, io.path("report"))
        base_path = io.optional_path("base_report")
        write_reports(
            report,
            io.path("report_markdown"),
            io.path("report_html"),
            base_report=read_report(base_path) if base_path is not None else None,
            paper_reference=config.paper_reference,
        )
        metrics = io.artifact("metrics")
        for key, value in report.metrics.items():
            metrics.log_metric(key, value)
        recorder.metrics.update(report.metrics)
        push_eval_scores(io.param("run_id") or "local", label, report)
        recorder.artifacts.update(
            report=str(io.path("report")),
            report_markdown=str(io.path("report_markdown")),
            report_html=str(io.path("report_html")),
        )
