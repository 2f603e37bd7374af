"""Scored completions per second of each reward type, on one CPU core.

The rule-based verifiers (digit, mcq, math, iou) run in the trainer's process after every
rollout; the target is at least 2,000 completions/s each on one core. Completions are realistic
GRPO outputs: a few hundred characters of thinking plus an answer, mixing correct, wrong,
malformed and missing answers, in groups of 4 completions per prompt (the paper's group size,
so the ground truth repeats as it does in training). ``open`` is timed separately: the tiny
random-weight reward model through ``SequenceClassificationScorer.score_batch``.

Prints a table and writes ``bench/results/rewards.json`` with the machine it ran on.
Usage: ``python bench/rewards.py [--seconds S] [--output FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from vlaa import rewards
from vlaa.reward_models import SequenceClassificationScorer, make_tiny_reward_model

RESULTS = Path(__file__).parent / "results" / "rewards.json"
RULE_TYPES = ("digit", "mcq", "math", "iou")
TARGET_PER_SECOND = 2_000
GROUP_SIZE = 4
POOL_GROUPS = 500  # 2,000 distinct completions per type, so Math-Verify's small caches rarely hit

Sample = tuple[str, Any]  # (completion, ground truth)

THOUGHTS = (
    "Let me look at the image carefully.",
    "I can see several objects on a gray background.",
    "There is a large red cube at the top left and a small blue sphere next to it.",
    "Wait, let me double-check the count of the remaining objects.",
    "The question asks me to remove some of them first, so I subtract those.",
    "Hmm, the cone in the middle could be green or yellow; it looks green.",
    "Alternatively I could count the spheres separately and add the cubes.",
    "So the total should be the sum of both groups.",
    "I should confirm that no object is hidden behind another one.",
)


def thinking(rng: random.Random) -> str:
    """A few hundred characters of plausible reasoning."""
    return " ".join(rng.choice(THOUGHTS) for _ in range(rng.randint(4, 8)))


def complete(rng: random.Random, answer: str | None) -> str:
    """A completion with ``answer`` in tags; ``None`` leaves the answer tag out."""
    think = f"<think>{thinking(rng)}</think>"
    if answer is None:  # missing or truncated answer: the implicit format reward is 0
        return rng.choice((think, f"{think} The answer is 3.", f"{think}<answer>3"))
    return f"{think}<answer>{answer}</answer>"


def _group(rng: random.Random, truth: Any, answers: list[str | None]) -> list[Sample]:
    return [(complete(rng, rng.choice(answers)), truth) for _ in range(GROUP_SIZE)]


def digit_samples(rng: random.Random) -> list[Sample]:
    samples: list[Sample] = []
    for _ in range(POOL_GROUPS):
        n = rng.randint(0, 12)
        answers = [str(n), f" {n} ", f"{n}.", f"{n}.0", str(n + rng.choice((-1, 1, 2))), None]
        answers += [f"{n} objects", "three", "", f"{n * 1000:,}"]  # malformed or odd forms
        samples += _group(rng, str(n), answers)
    return samples


def mcq_samples(rng: random.Random) -> list[Sample]:
    samples: list[Sample] = []
    for _ in range(POOL_GROUPS):
        letter = rng.choice("ABCD")
        wrong = rng.choice([c for c in "ABCD" if c != letter])
        answers = [letter, f"({letter})", f"{letter}. red", f"Option {letter}", None]
        answers += [f"The answer is {letter}", wrong, f"{wrong})", "a red cube", ""]
        samples += _group(rng, letter, answers)
    return samples


def math_samples(rng: random.Random) -> list[Sample]:
    samples: list[Sample] = []
    for _ in range(POOL_GROUPS):
        kind = rng.randrange(4)
        a, b = rng.randint(1, 9), rng.randint(2, 12)
        if kind == 0:  # a fraction; answered as LaTeX, a slash or a decimal
            truth = f"\\frac{{{a}}}{{{b}}}"
            answers = [truth, f"{a}/{b}", f"{a / b:.4g}", f"\\dfrac{{{a}}}{{{b + 1}}}"]
        elif kind == 1:  # a decimal
            value = round(a * 1.5 + b / 10, 2)
            truth = f"{value}"
            answers = [truth, f"{value}0", f"${value}$", f"{value + 1}", f"\\boxed{{{value}}}"]
        elif kind == 2:  # an equation
            truth = f"x = {a}"
            answers = [truth, str(a), f"x={a}", f"{b}x = {a * b}", f"x = {a + 1}"]
        else:  # expressions with roots and pi
            truth = f"{a}\\sqrt{{{b}}}"
            answers = [truth, f"\\sqrt{{{a * a * b}}}", f"{a}\\pi", f"{a} \\cdot \\sqrt{{{b}}}"]
        answers += [None, "", "\\frac{3}{", "I think it is seven"]  # missing or malformed
        samples += _group(rng, truth, answers)
    return samples


def iou_samples(rng: random.Random) -> list[Sample]:
    samples: list[Sample] = []
    for _ in range(POOL_GROUPS):
        x1, y1 = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
        box = [round(v, 3) for v in (x1, y1, x1 + rng.uniform(0.1, 0.5), y1 + 0.3)]
        jitter = [round(v + rng.uniform(-0.05, 0.05), 3) for v in box]
        answers = [
            json.dumps(box),
            json.dumps(jitter),
            f"The box is [{box[0]}, {box[1]}, {box[2]}, {box[3]}].",
            f"[{box[2]}, {box[3]}, {box[0]}, {box[1]}]",  # degenerate: corners swapped
            f"[{box[0]}, {box[1]}]",
            None,
        ]
        samples += _group(rng, box, answers)
    return samples


GENERATORS: dict[str, Callable[[random.Random], list[Sample]]] = {
    "digit": digit_samples,
    "mcq": mcq_samples,
    "math": math_samples,
    "iou": iou_samples,
}


def time_rule(kind: str, samples: list[Sample], seconds: float) -> dict[str, Any]:
    """Score ``samples`` round-robin for about ``seconds``; completions/s and mean reward."""
    for completion, truth in samples[:50]:  # warm-up: imports, regex and sympy setup
        rewards.score(kind, completion, truth)
    count, total = 0, 0.0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        start = count % len(samples)
        for completion, truth in samples[start : start + 100]:
            total += rewards.score(kind, completion, truth) or 0.0
            count += 1
        elapsed = time.perf_counter() - started
    return {
        "completions_per_second": round(count / elapsed, 1),
        "n": count,
        "seconds": round(elapsed, 3),
        "mean_reward": round(total / count, 4),
        "distinct_completions": len(samples),
    }


def time_open(seconds: float, batch_size: int = 64) -> dict[str, Any]:
    """Tiny reward model: each completion needs two scores (its answer and the reference)."""
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        scorer = SequenceClassificationScorer(
            make_tiny_reward_model(Path(tmp) / "rm"), batch_size=batch_size
        )
        colours = ("red", "blue", "green", "yellow", "purple", "gray")
        questions, texts = [], []
        for _ in range(batch_size):
            questions.append(f"What colour is the {rng.choice(('cube', 'sphere', 'cone'))}?")
            texts.append(f"a {rng.choice(('large', 'small'))} {rng.choice(colours)} object")
        images = [None] * batch_size
        scorer.score_batch(images, questions, texts)  # warm-up, loads the model
        count = 0
        started = time.perf_counter()
        elapsed = 0.0
        while elapsed < seconds:
            scorer.score_batch(images, questions, texts)
            count += batch_size
            elapsed = time.perf_counter() - started
    return {
        "texts_per_second": round(count / elapsed, 1),
        "completions_per_second": round(count / 2 / elapsed, 1),
        "n_texts": count,
        "seconds": round(elapsed, 3),
        "batch_size": batch_size,
        "model": "tiny Qwen2ForSequenceClassification (hidden 32, 2 layers, random weights)",
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pin_to_one_core() -> int | None:
    """Run on the first allowed CPU only, so results compare across machines."""
    torch.set_num_threads(1)
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def machine(cpu: int | None) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "pinned_cpu": cpu,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per type")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args()
    cpu = pin_to_one_core()
    rng = random.Random(0)
    results: dict[str, Any] = {}
    for kind in RULE_TYPES:
        results[kind] = time_rule(kind, GENERATORS[kind](rng), args.seconds)
    open_result = time_open(args.seconds)

    table = Table(title=f"Reward scoring on one core ({cpu_model()})")
    for column in ("type", "completions/s", "n", "seconds", "mean reward", "target"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for kind, r in results.items():
        ok = r["completions_per_second"] >= TARGET_PER_SECOND
        table.add_row(
            kind,
            f"{r['completions_per_second']:,.0f}",
            f"{r['n']:,}",
            f"{r['seconds']:.1f}",
            f"{r['mean_reward']:.3f}",
            f"[green]≥{TARGET_PER_SECOND:,}[/]" if ok else f"[red]<{TARGET_PER_SECOND:,}[/]",
        )
    table.add_section()
    table.add_row(
        "open (tiny RM)",
        f"{open_result['completions_per_second']:,.0f}",
        f"{open_result['n_texts'] // 2:,}",
        f"{open_result['seconds']:.1f}",
        "-",
        "not rule-based",
    )
    Console(width=100).print(table)

    report = {
        "benchmark": "rewards",
        "unit": "scored completions per second, one core",
        "target_per_second_rule_types": TARGET_PER_SECOND,
        "rule_types": results,
        "open": open_result,
        "machine": machine(cpu),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
