"""The Markdown and HTML reports show each benchmark's ``empty_items`` count."""

from __future__ import annotations

from vlaa.evaluation.render import render_html, render_markdown
from vlaa.evaluation.report import EvalReport


def _report() -> EvalReport:
    def result(n: int, accuracy: float, **extra: object) -> dict[str, object]:
        return {"n": n, "accuracy": accuracy, "headline": accuracy, **extra}

    return EvalReport.model_validate(
        {
            "label": "trained",
            "metrics": {"accuracy": 0.5},
            "benchmarks": {
                "logicvista": result(448, 0.25, empty_items=1),
                "mathvista": result(1000, 0.625, empty_items=0),
                "mathvision": result(3040, 0.2),  # an older report: no count
            },
        }
    )


def test_markdown_details_show_empty_items() -> None:
    markdown = render_markdown(_report())
    header = next(line for line in markdown.splitlines() if "empty items" in line)
    assert header.startswith("| benchmark | n | empty items | accuracy (%) |")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in markdown.splitlines()}
    assert "| 448 | 1 | 25.0 |" in rows["LogicVista"]
    assert "| 1000 | 0 | 62.5 |" in rows["MathVista"]
    assert "| 3040 | – | 20.0 |" in rows["MathVision"]


def test_html_details_show_empty_items() -> None:
    html = render_html(_report())
    assert "<th>empty items</th>" in html
    assert "<td>448</td><td>1</td><td>25.0</td>" in html.replace("\n", "")
    assert "<td>3040</td><td>–</td><td>20.0</td>" in html.replace("\n", "")
