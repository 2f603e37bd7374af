"""Scored completions per second of each reward type, on one CPU core.

The rule-based verifiers (digit, mcq, math, iou) run in the trainer's process after every
rollout; the target is at least 2,000 completions/s each on one core. Completions are realistic
GRPO outputs: a few hundred characters of thinking plus an answer, mixing correct, wrong,
malformed and missing answers, in groups of 4 completions per prompt (the paper's group size,
so the ground truth repeats as it does in training). ``open`` is timed separately: the tiny
random-weight reward model through ``SequenceClassificationScorer.score_batch``.

``math`` is timed three times: the realistic mix, then split by the kind of ground truth into
``math (numeric answers)`` (plain numbers, which ``score_math`` scores on an exact fast path)
and ``math (symbolic answers: ...)`` (equations, expressions, intervals, which go through
Math-Verify's parser unless plain, and its simplify unless a shortcut decides them), so that
the fast path cannot hide the symbolic cost. ``score_math`` caches parsed ground truths, parsed
answers and recent scores; the caches are cleared at the start of every pass over a pool, so
each pass scores its completions as if seen once, and every row reports how many distinct
(answer, ground truth) pairs its pool holds.

Prints a table and writes ``bench/results/rewards.json`` with the machine it ran on.
Usage: ``python bench/rewards.py [--seconds S] [--output FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from machine_info import cpu_model, machine
from rich.console import Console
from rich.table import Table

from vlaa import rewards
from vlaa.reward_models import SequenceClassificationScorer

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


# Answers that are missing or malformed; every math group offers them, as in real rollouts.
MALFORMED_MATH: list[str | None] = [None, "", "\\frac{3}{", "I think it is seven"]


def _fraction(a: int, b: int) -> tuple[str, list[str | None]]:
    """A fraction; answered as LaTeX, a slash or a decimal."""
    truth = f"\\frac{{{a}}}{{{b}}}"
    return truth, [truth, f"{a}/{b}", f"{a / b:.4g}", f"\\dfrac{{{a}}}{{{b + 1}}}"]


def _decimal(a: int, b: int) -> tuple[str, list[str | None]]:
    value = round(a * 1.5 + b / 10, 2)
    truth = f"{value}"
    return truth, [truth, f"{value}0", f"${value}$", f"{value + 1}", f"\\boxed{{{value}}}"]


def _integer(a: int, b: int) -> tuple[str, list[str | None]]:
    value = a * b
    truth = str(value)
    return truth, [truth, f"{value}.0", f"\\boxed{{{value}}}", str(value + 1), f"{value:,}"]


def _equation(a: int, b: int) -> tuple[str, list[str | None]]:
    truth = f"x = {a}"
    return truth, [truth, str(a), f"x={a}", f"{b}x = {a * b}", f"x = {a + 1}"]


def _roots_and_pi(a: int, b: int) -> tuple[str, list[str | None]]:
    truth = f"{a}\\sqrt{{{b}}}"
    return truth, [truth, f"\\sqrt{{{a * a * b}}}", f"{a}\\pi", f"{a} \\cdot \\sqrt{{{b}}}"]


def _interval(a: int, b: int) -> tuple[str, list[str | None]]:
    truth = f"({a}, {a + b})"
    answers = [truth, f"({a},{a + b})", f"[{a}, {a + b}]", f"{a} < x < {a + b}", f"({a}, {a + 1})"]
    return truth, answers


MathKind = Callable[[int, int], tuple[str, list[str | None]]]


def _math_pool(
    rng: random.Random,
    kinds: tuple[MathKind, ...],
    a_max: int,
    b_max: int,
    malformed: list[str | None] = MALFORMED_MATH,
) -> list[Sample]:
    samples: list[Sample] = []
    for _ in range(POOL_GROUPS):
        kind = kinds[rng.randrange(len(kinds))]
        a, b = rng.randint(1, a_max), rng.randint(2, b_max)
        truth, answers = kind(a, b)
        samples += _group(rng, truth, answers + malformed)
    return samples


def math_samples(rng: random.Random) -> list[Sample]:
    """The realistic mix: fractions, decimals, equations, roots and pi, in equal shares."""
    return _math_pool(rng, (_fraction, _decimal, _equation, _roots_and_pi), 9, 12)


def math_numeric_samples(rng: random.Random) -> list[Sample]:
    """Ground truths that are plain numbers (integers, fractions, decimals).

    Values range wider than in the mix so that ground truths rarely repeat across groups, as
    in a real RL split of thousands of distinct problems: caches only help within a group.
    """
    return _math_pool(rng, (_integer, _fraction, _decimal), 99, 99)


def math_numbers_only_samples(rng: random.Random) -> list[Sample]:
    """As ``math_numeric_samples``, but answered with numbers or nothing: no malformed text."""
    return _math_pool(rng, (_integer, _fraction, _decimal), 99, 99, [None, ""])


def math_symbolic_samples(rng: random.Random) -> list[Sample]:
    """Ground truths that are equations, expressions with roots and pi, or intervals."""
    return _math_pool(rng, (_equation, _roots_and_pi, _interval), 99, 99)


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
# The math mix split by the kind of ground truth: (row label, generator, seed).
MATH_ROWS: dict[str, tuple[str, Callable[[random.Random], list[Sample]], int]] = {
    "numeric": ("math (numeric answers)", math_numeric_samples, 1),
    "numbers_only": (
        "math (numeric answers, numbers only: no malformed text)",
        math_numbers_only_samples,
        1,
    ),
    "symbolic": (
        "math (symbolic answers: equations, expressions, intervals)",
        math_symbolic_samples,
        2,
    ),
}


def _clear_caches() -> None:
    getattr(rewards, "clear_math_caches", lambda: None)()


def distinct_pairs(samples: list[Sample]) -> dict[str, int]:
    """Completions with a scorable answer, and distinct (answer, ground truth) pairs among them."""
    pairs = [(rewards.extract_answer(c), json.dumps(truth)) for c, truth in samples]
    scorable = [pair for pair in pairs if pair[0]]
    return {
        "scorable_completions": len(scorable),
        "distinct_answer_truth_pairs": len(set(scorable)),
    }


def time_rule(kind: str, samples: list[Sample], seconds: float) -> dict[str, Any]:
    """Score ``samples`` round-robin for about ``seconds``; completions/s and mean reward.

    Reward caches are cleared at the start of every pass over ``samples`` (after the warm-up,
    too), so repeated passes do not turn into cache hits.
    """
    for completion, truth in samples[:50]:  # warm-up: imports, regex and sympy setup
        rewards.score(kind, completion, truth)
    count, total = 0, 0.0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        start = count % len(samples)
        if start == 0:
            _clear_caches()
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
        **distinct_pairs(samples),
    }


def time_open(seconds: float, batch_size: int = 64) -> dict[str, Any]:
    """Tiny reward model: each completion needs two scores (its answer and the reference)."""
    # A test fixture: tests/ goes on sys.path, as bench/data_engine.py does for its doubles.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fixtures.tiny_reward_model import make_tiny_reward_model

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


def pin_to_one_core() -> int | None:
    """Run on the first allowed CPU only, so results compare across machines."""
    torch.set_num_threads(1)
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def notes(results: dict[str, Any], math_rows: dict[str, Any]) -> list[str]:
    """Plain statements about what the rows mean and which miss the target."""
    mix = results["math"]
    lines = [
        "Reward caches are cleared at the start of every pass over a pool of 2,000 completions.",
        f"The math mix holds {mix['distinct_answer_truth_pairs']:,} distinct (answer, ground "
        f"truth) pairs among {mix['scorable_completions']:,} scorable completions (its values "
        "are drawn from narrow ranges); the numeric and symbolic pools draw from wide ranges, so "
        "ground truths rarely repeat across groups, as in a real RL split.",
    ]
    rows = {kind: results[kind] for kind in RULE_TYPES}
    rows.update({math_rows[key]["row"]: math_rows[key] for key in math_rows})
    for label, r in rows.items():
        if r["completions_per_second"] < TARGET_PER_SECOND:
            lines.append(
                f"{label} is BELOW the {TARGET_PER_SECOND:,}/s target: "
                f"{r['completions_per_second']:,.0f}/s."
            )
    numeric, numbers_only = math_rows["numeric"], math_rows["numbers_only"]
    if (
        numeric["completions_per_second"]
        < TARGET_PER_SECOND
        <= numbers_only["completions_per_second"]
    ):
        lines.append(
            "Numeric ground truths answered with numbers take the exact fast path "
            f"({numbers_only['completions_per_second']:,.0f}/s); the numeric row is slower "
            "because 2 of its 8-9 answer forms per group are malformed text (an unclosed "
            "\\frac, a sentence) that Math-Verify must parse (the sentence, a product of "
            "symbols, then skips Math-Verify's simplify)."
        )
    symbolic = math_rows["symbolic"]
    if symbolic["completions_per_second"] < TARGET_PER_SECOND:
        lines.append(
            "Symbolic math answers go through Math-Verify's parser unless they are plain "
            "intervals or equations, and through its simplify and solve (milliseconds each) "
            "unless vlaa.rewards.math_shortcuts decides them (equal objects, constants clearly "
            "apart, prose, linear equations, an interval against an expression)."
        )
    return lines


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
    math_rows: dict[str, Any] = {}
    for key, (label, generator, seed) in MATH_ROWS.items():
        row = time_rule("math", generator(random.Random(seed)), args.seconds)
        math_rows[key] = {"row": label, **row}
    open_result = time_open(args.seconds)

    table = Table(title=f"Reward scoring on one core ({cpu_model()})")
    for column in ("type", "completions/s", "n", "seconds", "mean reward", "target"):
        table.add_column(column, justify="left" if column == "type" else "right")
    rows = [(kind, results[kind]) for kind in RULE_TYPES]
    at = RULE_TYPES.index("math") + 1
    rows[at:at] = [(r["row"], r) for r in math_rows.values()]
    for label, r in rows:
        ok = r["completions_per_second"] >= TARGET_PER_SECOND
        table.add_row(
            label,
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
    console = Console(width=120)
    console.print(table)
    report_notes = notes(results, math_rows)
    for line in report_notes:
        console.print(f"- {line}", highlight=False)

    report = {
        "benchmark": "rewards",
        "unit": "scored completions per second, one core",
        "target_per_second_rule_types": TARGET_PER_SECOND,
        "rule_types": results,
        "math_rows": math_rows,
        "open": open_result,
        "notes": report_notes,
        "machine": machine(pinned_cpu=cpu),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
