"""Evaluation: the synthetic eval split and, when configured, the paper's reasoning benchmarks.

The paper's protocol ("Evaluation"): each benchmark's VLMEvalKit prompt (config
``prompt_style``), the training system prompt (``system_prompt``), greedy decoding, at
most ``max_new_tokens`` (800) new tokens, images capped at ``max_pixels`` (256*32*32); the
answer is the text inside ``<answer>`` or else the raw text. The synthetic split is scored with
the training rewards (accuracy per reward type); each benchmark with its own rules and headline
metric (``vlaa.benchmarks.scoring``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from statistics import fmean
from typing import Any

from vlaa import rewards
from vlaa.benchmarks import (
    BENCHMARKS,
    BenchmarkDataError,
    EvalItem,
    EvalProtocol,
    aggregate,
    load_benchmark,
    score_prediction,
)
from vlaa.evaluation.config import EvaluateStepConfig
from vlaa.evaluation.generation import GenerationRequest, Generator, make_generator
from vlaa.evaluation.report import (
    ACCURACY,
    BENCHMARK_AVERAGE,
    BenchmarkResult,
    EvalReport,
    accuracy_metric,
    score_metric,
)
from vlaa.modeling.loading import check_model_dir
from vlaa.records import Record
from vlaa.training.datasets import image_path, load_split, prompt_messages

# ----------------------------------------------------------------------------- inputs


def load_benchmarks(config: EvaluateStepConfig) -> dict[str, list[EvalItem]]:
    """Items of every configured benchmark (in registry order); bad data fails here, clearly."""
    loaded: dict[str, list[EvalItem]] = {}
    for name in (name for name in BENCHMARKS if name in config.benchmarks):
        items = load_benchmark(
            name,
            config.benchmarks[name],
            limit=config.benchmark_limit,
            prompt_style=config.prompt_style,
        )
        if not items:
            raise BenchmarkDataError(f"{name}: no items under {config.benchmarks[name]}")
        loaded[name] = items
    return loaded


def _split_request(split_dir: Path, record: Record) -> GenerationRequest:
    return GenerationRequest(
        messages=prompt_messages(record),
        images=[image_path(split_dir, record)],
        label=f"eval record {record.id}",
    )


def _benchmark_request(item: EvalItem, protocol: EvalProtocol) -> GenerationRequest:
    return GenerationRequest(
        messages=protocol.chat_messages(item),
        images=[Path(path) for path in item.images],
        label=f"{item.benchmark} item {item.id}",
    )


# ----------------------------------------------------------------------------- the step


def evaluate_model(model_dir: Path, eval_dir: Path, config: EvaluateStepConfig) -> EvalReport:
    """Score ``model_dir`` on the eval split and the configured benchmarks.

    Returns the report: ``metrics`` (flat, numbers), ``samples`` (eval split rows),
    ``benchmarks`` (per benchmark: the aggregate metrics and its rows) and ``protocol``;
    the caller sets its ``label``. Inputs are read before the model is loaded, so bad data
    fails fast.
    """
    records = load_split(eval_dir)
    if config.max_samples:
        records = records[: config.max_samples]
    if not records:
        raise ValueError(f"eval split {eval_dir} has no records")
    benchmark_items = load_benchmarks(config)
    check_model_dir(model_dir)

    protocol = config.protocol()
    max_images = max([1, *(len(i.images) for items in benchmark_items.values() for i in items)])
    generator = make_generator(
        config.generation,
        model_dir,
        max_new_tokens=config.max_new_tokens,
        max_pixels=config.max_pixels,
        batch_size=config.batch_size,
        max_images=max_images,
    )

    started = time.perf_counter()
    rows = score_split(generator, eval_dir, records)
    timings = {"eval_split": round(time.perf_counter() - started, 2)}
    benchmarks: dict[str, BenchmarkResult] = {}
    for name, items in benchmark_items.items():
        started = time.perf_counter()
        benchmarks[name] = score_benchmark(generator, name, items, protocol)
        timings[name] = round(time.perf_counter() - started, 2)

    metrics = summarise(rows)
    metrics.update(benchmark_metrics(benchmarks))
    return EvalReport(
        metrics=metrics,
        samples=rows,
        benchmarks=benchmarks,
        protocol={
            **protocol.model_dump(),
            "backend": generator.backend,
            "benchmark_limit": config.benchmark_limit,
            "paper_reference": config.paper_reference,
            "eval_split_prompt": "training",  # the synthetic split keeps the training prompts
            "seconds": timings,
        },
    )


def score_split(
    generator: Generator, eval_dir: Path, records: list[Record]
) -> list[dict[str, Any]]:
    """Rows of the synthetic eval split, scored by the training reward of each record."""
    requests = [_split_request(eval_dir, record) for record in records]
    rows: list[dict[str, Any]] = []
    for record, completion in zip(
        records, generator.generate(requests, desc="evaluate"), strict=True
    ):
        rows.append(
            {
                "id": record.id,
                "reward_type": record.reward_type,
                "answer": record.answer,
                "extracted": rewards.extract_answer(completion),
                "score": rewards.score(record.reward_type, completion, record.answer),
                "completion": completion,
            }
        )
    return rows


def score_benchmark(
    generator: Generator, name: str, items: list[EvalItem], protocol: EvalProtocol
) -> BenchmarkResult:
    """One benchmark's aggregate metrics (``aggregate``) plus its per-item rows."""
    requests = [_benchmark_request(item, protocol) for item in items]
    completions = generator.generate(requests, desc=name)
    scores = [
        score_prediction(item, completion)
        for item, completion in zip(items, completions, strict=True)
    ]
    rows = [
        {
            "id": item.id,
            "answer": item.answer,
            "answer_kind": item.answer_kind,
            "prediction": score.prediction,
            "correct": score.correct,
            "empty_fields": item.empty_fields,
            "completion": completion,
        }
        for item, score, completion in zip(items, scores, completions, strict=True)
    ]
    return BenchmarkResult.model_validate({**aggregate(name, items, scores), "samples": rows})


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Accuracy overall and per reward type, answer-format rate and mean completion length."""
    scored = [row for row in rows if row["score"] is not None]
    by_type: dict[str, list[float]] = defaultdict(list)
    for row in scored:
        by_type[row["reward_type"]].append(row["score"])
    metrics = {
        ACCURACY: round(fmean(r["score"] for r in scored), 4) if scored else 0.0,
        "format_rate": round(fmean(r["extracted"] is not None for r in rows), 4),
        "mean_completion_chars": round(fmean(len(r["completion"]) for r in rows), 1),
        "num_samples": float(len(rows)),
    }
    for kind, values in sorted(by_type.items()):
        metrics[accuracy_metric(kind)] = round(fmean(values), 4)
    return metrics


def benchmark_metrics(benchmarks: Mapping[str, BenchmarkResult]) -> dict[str, float]:
    """``accuracy_<name>``, ``score_<name>`` (the paper's headline metric) per benchmark and
    ``benchmark_average`` (mean headline score); fractions in [0, 1]."""
    metrics: dict[str, float] = {}
    for name, result in benchmarks.items():
        metrics[accuracy_metric(name)] = round(float(result.accuracy or 0.0), 4)
        metrics[score_metric(name)] = round(float(result.headline or 0.0), 4)
    if benchmarks:
        headline = [float(result.headline or 0.0) for result in benchmarks.values()]
        metrics[BENCHMARK_AVERAGE] = round(fmean(headline), 4)
    return metrics
