"""Runtime side of the compare component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import HTML, Artifact, Input, Markdown, Metrics, Model, Output


def run_from_kfp(
    base_report: Input[Artifact],
    sft_report: Input[Artifact],
    grpo_report: Input[Artifact],
    sft_grpo_report: Input[Artifact],
    grpo_model: Input[Model],
    sft_grpo_model: Input[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
    page: Output[HTML],
) -> None:
    import shutil
    from pathlib import Path

    from vlaa.components.compare.step import compare, html_page
    from vlaa.stages import stage

    with stage("compare") as recorder:
        work = Path(report.path).parent / "compare-work"
        result = compare(
            {
                "base": Path(base_report.path),
                "sft": Path(sft_report.path),
                "grpo": Path(grpo_report.path),
                "sft-grpo": Path(sft_grpo_report.path),
            },
            {"grpo": Path(grpo_model.path), "sft-grpo": Path(sft_grpo_model.path)},
            work,
        )
        shutil.copyfile(work / "comparison.md", report.path)
        Path(page.path).write_text(html_page(result, Path(result["chart"])), encoding="utf-8")
        for arm, row in result["accuracy"].items():
            if "accuracy" in row:
                metrics.log_metric(f"accuracy/{arm}", row["accuracy"])
                recorder.metrics[f"accuracy_{arm}"] = row["accuracy"]
        for arm, row in result["grpo_dynamics"].items():
            for key, value in row.items():
                if value is not None:
                    metrics.log_metric(f"{key}/{arm}", value)
                    recorder.metrics[f"{key}_{arm}"] = value
        recorder.artifacts["report"] = report.path
        recorder.artifacts["page"] = page.path
