"""Runtime side of the compare component: KFP arguments in, ``vlaa.evaluation.compare``,
artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlaa.components.task_io import TaskIO
from vlaa.evaluation.compare import compare, html_page
from vlaa.stages import stage


def run(arguments: Mapping[str, Any]) -> None:
    """Compare the arms; write the Markdown report and the HTML page, log the numbers."""
    io = TaskIO(arguments)
    report, page = io.output_file("report", ".md"), io.output_file("page", ".html")
    with stage("compare") as recorder:
        work = report.parent / "compare-work"
        result = compare(
            {
                "base": io.path("base_report"),
                "sft": io.path("sft_report"),
                "grpo": io.path("grpo_report"),
                "sft-grpo": io.path("sft_grpo_report"),
            },
            {"grpo": io.path("grpo_model"), "sft-grpo": io.path("sft_grpo_model")},
            work,
        )
        shutil.copyfile(work / "comparison.md", report)
        page.write_text(html_page(result, Path(result["chart"])), encoding="utf-8")
        metrics = io.artifact("metrics")
        for arm, row in result["accuracy"].items():
            if "accuracy" in row:
                metrics.log_metric(f"accuracy/{arm}", row["accuracy"])
                recorder.metrics[f"accuracy_{arm}"] = row["accuracy"]
        for arm, row in result["grpo_dynamics"].items():
            for key, value in row.items():
                if value is not None:
                    metrics.log_metric(f"{key}/{arm}", value)
                    recorder.metrics[f"{key}_{arm}"] = value
        recorder.artifacts["report"] = str(report)
        recorder.artifacts["page"] = str(page)
