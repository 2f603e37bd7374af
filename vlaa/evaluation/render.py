"""Markdown and HTML reports of one evaluation: scores against the base model and the paper.

Every score is shown in percent: our metrics are fractions in [0, 1] (times 100), the paper's
table (``vlaa.benchmarks.PAPER_RESULTS_PERCENT``) is published in percent. The chart is a
grouped bar chart per benchmark (this model, the base model when its report is given, and the
paper's base and VLAA-Thinker rows of the configured size), inlined as a base64 PNG.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from vlaa.benchmarks import BENCHMARKS, HEADLINE_METRICS, PAPER_RESULTS_PERCENT
from vlaa.evaluation.report import EvalReport

# paper_reference -> (the paper's base-model row, its VLAA-Thinker row of that size).
PAPER_ROWS: dict[str, tuple[str, str]] = {
    "3b": ("Qwen2.5-VL-3B", "VLAA-Thinker-Qwen2.5VL-3B"),
    "7b": ("Qwen2.5-VL-7B", "VLAA-Thinker-Qwen2.5VL-7B"),
}
DISPLAY_NAMES: dict[str, str] = {
    "mathvista": "MathVista",
    "mathvision": "MathVision",
    "mathverse": "MathVerse",
    "dynamath": "DynaMath",
    "wemath": "WeMath",
    "logicvista": "LogicVista",
}
HEADLINE_LABELS: dict[str, str] = {
    "accuracy": "accuracy",
    "worst_case_accuracy": "worst case",
    "score_strict": "strict score",
}
SYNTHETIC = "eval split"
AVERAGE = "average"
# Per-benchmark extras worth a column in the details table.
EXTRAS: dict[str, tuple[str, ...]] = {
    "dynamath": ("average_accuracy", "worst_case_accuracy", "seed_questions"),
    "wemath": ("score_loose", "IK", "IG", "CM_strict", "RM_strict", "groups", "incomplete_groups"),
}


@dataclass
class ScoreTable:
    """Scores in percent: ``values[column][group]``; ``None`` where a column has no number."""

    groups: list[str]
    labels: dict[str, str]
    columns: list[str]
    values: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def value(self, column: str, group: str) -> float | None:
        return self.values.get(column, {}).get(group)


def _percent(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(100.0 * float(value), 1)


def _benchmark_names(report: EvalReport) -> list[str]:
    return [name for name in BENCHMARKS if name in report.benchmarks]


def _mean(values: list[float | None]) -> float | None:
    if not values or any(value is None for value in values):
        return None
    return round(fmean(value for value in values if value is not None), 1)


def score_table(
    report: EvalReport,
    base_report: EvalReport | None = None,
    paper_reference: str | None = None,
) -> ScoreTable:
    """This model, the base model (if its report is given) and the paper's rows, per group.

    Groups: the synthetic eval split's accuracy, each benchmark's headline score and, with
    benchmarks, their average; the paper's average is taken over the same benchmarks, so a run
    on a subset compares like with like.
    """
    names = _benchmark_names(report)
    groups = [SYNTHETIC, *names] + ([AVERAGE] if names else [])
    labels = {SYNTHETIC: "eval split (synthetic, accuracy)"}
    for name in names:
        headline = HEADLINE_METRICS.get(name, "accuracy")
        labels[name] = (
            f"{DISPLAY_NAMES.get(name, name)} ({HEADLINE_LABELS.get(headline, headline)})"
        )
    labels[AVERAGE] = f"average of {len(names)} benchmark(s)"

    def model_scores(source: EvalReport) -> dict[str, float | None]:
        headlines = source.benchmark_scores
        scores: dict[str, float | None] = {SYNTHETIC: _percent(source.accuracy)}
        for name in names:
            scores[name] = _percent(headlines.get(name))
        if names:
            scores[AVERAGE] = _mean([scores[name] for name in names])
        return scores

    label = report.label or "model"
    columns = [f"this model ({label})"]
    values = {columns[0]: model_scores(report)}
    if base_report is not None:
        column = f"base model ({base_report.label or 'base'})"
        columns.append(column)
        values[column] = model_scores(base_report)
    if paper_reference is not None and names:  # the paper has no synthetic-split numbers
        for row in PAPER_ROWS[paper_reference]:
            column = f"paper: {row}"
            columns.append(column)
            published = PAPER_RESULTS_PERCENT[row]
            scores = {name: published.get(name) for name in names}
            if names:
                scores[AVERAGE] = _mean([scores[name] for name in names])
            values[column] = scores
    return ScoreTable(groups=groups, labels=labels, columns=columns, values=values)


# ----------------------------------------------------------------------------- chart


def chart_png(table: ScoreTable, title: str = "Scores (%)") -> bytes:
    """A grouped bar chart of ``table`` as PNG bytes (no display or pyplot state needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    count = max(1, len(table.columns))
    width = 0.8 / count
    figure = Figure(figsize=(max(6.0, 1.6 * len(table.groups) + 2), 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for index, column in enumerate(table.columns):
        xs, heights = [], []
        for position, group in enumerate(table.groups):
            value = table.value(column, group)
            if value is not None:
                xs.append(position - 0.4 + width * (index + 0.5))
                heights.append(value)
        bars = axes.bar(xs, heights, width=width, label=column)
        axes.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    axes.set_xticks(range(len(table.groups)))
    axes.set_xticklabels(
        [table.labels.get(group, group) for group in table.groups],
        rotation=20,
        ha="right",
        fontsize=8,
    )
    axes.set_ylim(0, 122)  # the band above 100 holds the legend, clear of every bar
    axes.set_yticks(range(0, 101, 20))
    axes.set_ylabel("%")
    axes.set_title(title)
    axes.legend(fontsize=7, loc="upper center", ncol=min(count, 4), frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ----------------------------------------------------------------------------- text


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 1 or value == 0 else f"{value:.3f}"
    return str(value)


# Reports written before prompts could be chosen carry neither key: they used the training
# system prompt and, on benchmarks, the training instruction.
SYSTEM_PROMPT_WORDS = {
    "project": "the training system prompt",
    "vlaa-thinker": "the VLAA-Thinker release's system prompt",
    "custom": "a custom system prompt",
}
PROMPT_STYLE_WORDS = {
    "vlmevalkit": "each benchmark's own prompt as VLMEvalKit builds it",
    "training": "benchmark questions with the training task instruction",
}


def _prompt_words(protocol: dict[str, Any]) -> str:
    choice = str(protocol.get("system_prompt_choice", "project"))
    style = str(protocol.get("prompt_style", "training"))
    system = SYSTEM_PROMPT_WORDS.get(choice, f"system prompt {choice!r}")
    return f"{system}, {PROMPT_STYLE_WORDS.get(style, f'prompt style {style!r}')}"


def _protocol_lines(report: EvalReport, paper_reference: str | None) -> list[str]:
    protocol = report.protocol
    lines = [
        f"Protocol: {_prompt_words(protocol)}, greedy decoding, at most "
        f"{protocol.get('max_new_tokens', '?')} new tokens, images capped at "
        f"{protocol.get('max_pixels', '?')} pixels; the answer is the text inside "
        "`<answer>`, else the raw text. Generation backend: "
        f"{protocol.get('backend', '?')}."
    ]
    limit = protocol.get("benchmark_limit")
    if limit and report.benchmarks:
        lines.append(
            f"Only the first {limit} items of each benchmark were scored (a smoke run): the "
            "numbers are not comparable to the paper's."
        )
    if paper_reference is not None:
        lines.append(
            f"Paper rows: {' and '.join(PAPER_ROWS[paper_reference])} (the paper, evaluated "
            "with VLMEvalKit; their average here is over the benchmarks of this run)."
        )
    return lines


def _detail_rows(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    # "empty items": kept with an empty question or answer, in n and scored as misses; "–" for
    # reports written before the count existed.
    header = [
        "benchmark",
        "n",
        "empty items",
        "accuracy (%)",
        "headline metric",
        "headline (%)",
        "more",
    ]
    rows = []
    for name in _benchmark_names(report):
        result = report.benchmarks[name]
        extras = []
        for key in EXTRAS.get(name, ()):
            value = result.extra(key)
            if value is not None:
                shown = _cell(_percent(value)) if isinstance(value, float) else _cell(value)
                extras.append(f"{key} {shown}")
        rows.append(
            [
                DISPLAY_NAMES.get(name, name),
                _cell(result.n),
                _cell(result.extra("empty_items")),
                _cell(_percent(result.accuracy)),
                result.headline_metric,
                _cell(_percent(result.headline)),
                ", ".join(extras),
            ]
        )
    return header, rows


def _score_rows(table: ScoreTable) -> tuple[list[str], list[list[str]]]:
    header = ["", *table.columns]
    rows = [
        [table.labels.get(group, group), *(_cell(table.value(c, group)) for c in table.columns)]
        for group in table.groups
    ]
    return header, rows


def _metric_rows(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    return ["metric", "value"], [[key, _cell(value)] for key, value in report.metrics.items()]


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    align = ["---"] + ["---:"] * (len(header) - 1)
    return [line(header), "| " + " | ".join(align) + " |", *(line(row) for row in rows)]


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _title(report: EvalReport) -> str:
    return f"Evaluation report: {report.label or 'model'}"


def render_markdown(
    report: EvalReport,
    base_report: EvalReport | None = None,
    paper_reference: str | None = None,
    chart: bytes | None = None,
) -> str:
    """The report as Markdown; the chart (PNG bytes) is inlined as a data URI when given."""
    table = score_table(report, base_report, paper_reference)
    lines = [f"# {_title(report)}", ""]
    for line in _protocol_lines(report, paper_reference):
        lines += [line, ""]
    lines += ["## Scores (%)", "", *_markdown_table(*_score_rows(table)), ""]
    if chart is not None:
        encoded = base64.b64encode(chart).decode("ascii")
        lines += [f"![scores](data:image/png;base64,{encoded})", ""]
    header, rows = _detail_rows(report)
    if rows:
        lines += ["## Benchmarks", "", *_markdown_table(header, rows), ""]
    lines += ["## Eval split metrics", "", *_markdown_table(*_metric_rows(report)), ""]
    return "\n".join(lines)


def render_html(
    report: EvalReport,
    base_report: EvalReport | None = None,
    paper_reference: str | None = None,
    chart: bytes | None = None,
) -> str:
    """The report as one self-contained HTML page, the chart inlined as a base64 PNG."""
    table = score_table(report, base_report, paper_reference)
    title = html.escape(_title(report))
    parts = [
        "<!DOCTYPE html>",
        f'<html><head><meta charset="utf-8"><title>{title}</title>',
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>",
        f"<h1>{title}</h1>",
        *(
            f"<p>{html.escape(line).replace('`', '')}</p>"
            for line in _protocol_lines(report, paper_reference)
        ),
        "<h2>Scores (%)</h2>",
        _html_table(*_score_rows(table)),
    ]
    if chart is not None:
        encoded = base64.b64encode(chart).decode("ascii")
        parts.append(f'<img alt="scores" src="data:image/png;base64,{encoded}">')
    header, rows = _detail_rows(report)
    if rows:
        parts += ["<h2>Benchmarks</h2>", _html_table(header, rows)]
    parts += ["<h2>Eval split metrics</h2>", _html_table(*_metric_rows(report)), "</body></html>"]
    return "\n".join(parts)


def write_reports(
    report: EvalReport,
    markdown_path: Path,
    html_path: Path,
    base_report: EvalReport | None = None,
    paper_reference: str | None = None,
) -> bytes:
    """Write the Markdown and HTML reports (one chart for both); return the chart PNG."""
    table = score_table(report, base_report, paper_reference)
    chart = chart_png(table, title=f"{_title(report)}: scores (%)")
    for path, text in (
        (markdown_path, render_markdown(report, base_report, paper_reference, chart)),
        (html_path, render_html(report, base_report, paper_reference, chart)),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return chart
