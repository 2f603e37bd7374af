"""Runtime side of the evaluate component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from __future__ import annotations

from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output


def run_from_kfp(
    model: Input[Model],
    eval_split: Input[Dataset],
    config: dict,
    label: str,
    metrics: Output[Metrics],
    report: Output[Artifact],
    report_markdown: Output[Markdown],
    report_html: Output[HTML],
    base_report: Input[Artifact] | None = None,
    run_id: str = "",
) -> None:
    """Evaluate, log every metric, write the JSON, Markdown and HTML reports."""
    import json
    from pathlib import Path

    from vlaa.components.evaluate.report import write_reports
    from vlaa.components.evaluate.step import EvaluateStepConfig, evaluate_model, write_report
    from vlaa.observability import push_eval_scores
    from vlaa.stages import stage

    with stage(f"evaluate-{label}") as recorder:
        step_config = EvaluateStepConfig.model_validate(config)
        result = evaluate_model(Path(model.path), Path(eval_split.path), step_config)
        result["label"] = label
        write_report(result, Path(report.path))
        base = json.loads(Path(base_report.path).read_text()) if base_report is not None else None
        write_reports(
            result,
            Path(report_markdown.path),
            Path(report_html.path),
            base_report=base,
            paper_reference=step_config.paper_reference,
        )
        for key, value in result["metrics"].items():
            metrics.log_metric(key, value)
        recorder.metrics.update(result["metrics"])
        push_eval_scores(run_id or "local", label, result["metrics"])
        recorder.artifacts.update(
            report=report.path, report_markdown=report_markdown.path, report_html=report_html.path
        )
