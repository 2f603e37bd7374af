"""Scoring of benchmark predictions: one item at a time, then per-benchmark aggregates.

Extraction follows the paper: the text inside ``<answer>...</answer>`` (``vlaa.rewards``'s
extraction, thinking ignored), else the raw completion. No LLM judge is used (VLMEvalKit uses
one for answer extraction on some benchmarks), so an answer must name its option or value
itself; rules per answer kind:

- ``mcq``: the option label(s) the answer names, by VLMEvalKit's rule-based matcher plus a
  multi-answer rule (``vlaa.benchmarks.options``); multi-answer questions (LogicVista) need
  the exact set.
- ``numeric``: the number in the answer (plain, ``1,000``, ``35%``, LaTeX such as ``\\frac{1}{2}``
  or ``2\\pi`` via Math-Verify), within the item's absolute tolerance (DynaMath), else exact.
  MathVista's integers, floats and lists follow its ``calculate_score.py``
  (``vlaa.benchmarks.mathvista.mathvista_correct``).
- ``free_form``: Math-Verify equivalence (``vlaa.rewards.score_math``) or equal text, ignoring
  case and spacing; MathVision also takes numbers within 1e-6 (VLMEvalKit's ``is_equal``). A
  ground truth of several labelled parts (``domain: [-4, 0) and range: (-3, 1]``) needs equal
  text: Math-Verify reads only its last number.

Aggregates: accuracy for every benchmark; DynaMath adds worst-case accuracy over each seed
question's variants; WeMath adds its authors' four-dimensional metrics and strict/loose scores.

An item kept with an empty question or answer (``EvalItem.empty_fields``; LogicVista's release
has one) is scored as a miss, as its authors' harness does, and counted as ``empty_items``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from vlaa.benchmarks.items import EvalItem
from vlaa.benchmarks.mathvision import MATHVISION_TOLERANCE
from vlaa.benchmarks.mathvista import mathvista_correct
from vlaa.benchmarks.numbers import number_value, parse_numeric
from vlaa.benchmarks.options import mcq_correct, text_key
from vlaa.benchmarks.protocol import HEADLINE_METRICS
from vlaa.rewards import extract_answer, score_math


class ItemScore(BaseModel):
    """The verdict on one prediction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    benchmark: str
    prediction: str
    correct: bool


# ----------------------------------------------------------------------------- extraction


def extract_prediction(completion: str) -> str:
    """The ``<answer>`` text outside thinking, else the raw completion (the paper's rule)."""
    answer = extract_answer(completion or "")
    return (completion or "").strip() if answer is None else answer


def score_prediction(item: EvalItem, completion: str) -> ItemScore:
    """Score one raw model completion for ``item``."""
    prediction = extract_prediction(completion)
    return ItemScore(
        id=item.id,
        benchmark=item.benchmark,
        prediction=prediction,
        correct=is_correct(item, prediction),
    )


def is_correct(item: EvalItem, prediction: str) -> bool:
    """Whether an already extracted prediction answers ``item``."""
    if not prediction.strip() or item.empty_fields:
        return False
    if item.benchmark == "mathvista":
        verdict = mathvista_correct(item, prediction)
        if verdict is not None:
            return verdict
    if item.answer_kind == "mcq":
        return mcq_correct(prediction, item.answer, item.options)
    if item.answer_kind == "numeric":
        return numeric_correct(prediction, item.answer, item.precision, item.tolerance)
    if free_form_correct(prediction, item.answer):
        return True
    if item.benchmark == "mathvision" and not _labelled_parts(item.answer):
        return values_within(prediction, item.answer, MATHVISION_TOLERANCE)
    return False


# ----------------------------------------------------------------------------- numeric


def numeric_correct(
    prediction: str, answer: str, precision: int | None = None, tolerance: float | None = None
) -> bool:
    """The stated number matches the ground truth under the item's rule.

    - ``precision`` p: both rounded to p decimals are equal (MathVista's rule; integers use
      p = 0).
    - ``tolerance`` t: ``|prediction - answer| <= t`` (DynaMath uses 0.001).
    - neither: equal values.
    """
    expected = parse_numeric(answer)
    got = parse_numeric(prediction)
    if expected is None or got is None:
        return False
    if tolerance is not None and abs(got - expected) <= tolerance + 1e-12:
        return True
    if precision is not None:
        return round(got, precision) == round(expected, precision)
    if tolerance is not None:
        return False
    return got == expected


# ----------------------------------------------------------------------------- free form


# "domain: [-4, 0) and range: (-3, 1]": two or more "word:" labels.
_LABEL = re.compile(r"\b[A-Za-z]{2,}\s*:")


def _labelled_parts(answer: str) -> bool:
    return len(_LABEL.findall(answer)) >= 2


def free_form_correct(prediction: str, answer: str) -> bool:
    """Math-Verify equivalence, or the same text ignoring case and spacing.

    A ground truth of labelled parts is compared as text only: Math-Verify would read just
    its last number (``... range: (-3, 1]`` as ``1``) and accept any answer ending in it.
    """
    if text_key(prediction) == text_key(answer) and text_key(answer):
        return True
    if _labelled_parts(answer):
        return False
    return score_math(prediction, answer) == 1.0


def values_within(prediction: str, answer: str, tolerance: float) -> bool:
    """Both texts are numbers (``vlaa.benchmarks.numbers.number_value``) within ``tolerance``."""
    expected, got = number_value(answer), number_value(prediction)
    return expected is not None and got is not None and abs(got - expected) < tolerance


# ----------------------------------------------------------------------------- aggregates


def aggregate(
    benchmark: str, items: Sequence[EvalItem], scores: Sequence[ItemScore]
) -> dict[str, Any]:
    """Metrics of one benchmark run: ``n``, ``accuracy``, extras, and ``headline``.

    ``headline`` is the value of the metric the paper reports for the benchmark
    (``vlaa.benchmarks.protocol.HEADLINE_METRICS``); every value is a fraction in [0, 1]
    except counts. ``empty_items`` counts items kept with an empty question or answer; they
    are in ``n`` and scored as misses.
    """
    correct = _verdicts(items, scores)
    metrics: dict[str, Any] = {
        "n": len(items),
        "accuracy": sum(correct.values()) / len(items) if items else 0.0,
        "empty_items": sum(bool(item.empty_fields) for item in items),
    }
    if benchmark == "dynamath":
        metrics.update(dynamath_metrics(items, correct))
    elif benchmark == "wemath":
        metrics.update(wemath_metrics(items, correct))
    headline = HEADLINE_METRICS.get(benchmark, "accuracy")
    metrics["headline_metric"] = headline
    metrics["headline"] = metrics[headline]
    return metrics


def _verdicts(items: Sequence[EvalItem], scores: Iterable[ItemScore]) -> dict[str, bool]:
    by_id = {score.id: score.correct for score in scores}
    missing = [item.id for item in items if item.id not in by_id]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} items have no score: {shown}")
    return {item.id: by_id[item.id] for item in items}


def dynamath_metrics(items: Sequence[EvalItem], correct: Mapping[str, bool]) -> dict[str, Any]:
    """Average accuracy over all variants and worst-case accuracy over seed questions.

    A seed question counts for worst-case accuracy only when every one of its variants
    present is answered correctly (DynaMath's definition, over its 10 variants).
    """
    seeds: dict[str, list[bool]] = defaultdict(list)
    for item in items:
        seeds[str(item.meta["seed_id"])].append(correct[item.id])
    worst = sum(all(verdicts) for verdicts in seeds.values())
    return {
        "average_accuracy": sum(correct[item.id] for item in items) / len(items) if items else 0.0,
        "worst_case_accuracy": worst / len(seeds) if seeds else 0.0,
        "seed_questions": len(seeds),
    }


def wemath_metrics(items: Sequence[EvalItem], correct: Mapping[str, bool]) -> dict[str, Any]:
    """We-Math's four-dimensional metrics and scores over its problem groups.

    A group is one multi-step problem (``meta.group``, the record's ``ID``) with its n one-step
    sub-problems (``meta.role`` ``"1"``..``"n"``) and the composite one (``"multi"``), n = 2 or
    3 (``meta.steps``). Per group, as in the authors' ``four_dimensional_metrics.py``:

    - IK (insufficient knowledge): some sub-problem wrong, composite wrong;
    - IG (inadequate generalization): all sub-problems right, composite wrong;
    - CM (complete mastery): strict: all sub-problems right and composite right; loose: at
      least one sub-problem right and composite right;
    - RM (rote memorization): strict: some sub-problem wrong and composite right; loose: all
      sub-problems wrong and composite right.

    Score = (G - 0.5 IG - RM - IK) / G over G groups (the authors hard-code G = 525, the group
    count of the full testmini); rates are counts over G, except RM's, which is
    RM / (CM + RM). Groups with a member missing (a ``limit`` cut them) are left out and
    their number reported (the authors' left join counts some of them; see
    ``vlaa.benchmarks.wemath.REFERENCE_DIFFERENCES``).
    """
    groups: dict[str, dict[str, bool]] = defaultdict(dict)
    steps_of: dict[str, int] = {}
    for item in items:
        group = str(item.meta["group"])
        groups[group][str(item.meta["role"])] = correct[item.id]
        steps_of[group] = int(item.meta["steps"])

    counts = dict.fromkeys(("IK", "IG", "CM_strict", "CM_loose", "RM_strict", "RM_loose"), 0)
    one_step: list[bool] = []
    multi_by_steps: dict[int, list[bool]] = defaultdict(list)
    complete = 0
    for group, roles in groups.items():
        steps = steps_of[group]
        needed = [str(i) for i in range(1, steps + 1)]
        if "multi" not in roles or any(role not in roles for role in needed):
            continue
        complete += 1
        subs = [roles[role] for role in needed]
        multi = roles["multi"]
        all_right, any_right = all(subs), any(subs)
        counts["IG"] += all_right and not multi
        counts["IK"] += not all_right and not multi
        counts["CM_strict"] += all_right and multi
        counts["CM_loose"] += any_right and multi
        counts["RM_strict"] += not all_right and multi
        counts["RM_loose"] += not any_right and multi
        one_step.extend(subs)
        multi_by_steps[steps].append(multi)

    def rate(count: int, total: int) -> float:
        return count / total if total else 0.0

    total = complete
    metrics: dict[str, Any] = {
        "groups": total,
        "incomplete_groups": len(groups) - complete,
        **{f"count_{name}": value for name, value in counts.items()},
        "score_strict": rate(
            total - 0.5 * counts["IG"] - counts["RM_strict"] - counts["IK"], total
        ),
        "score_loose": rate(total - 0.5 * counts["IG"] - counts["RM_loose"] - counts["IK"], total),
        "IK": rate(counts["IK"], total),
        "IG": rate(counts["IG"], total),
        "CM_strict": rate(counts["CM_strict"], total),
        "CM_loose": rate(counts["CM_loose"], total),
        "RM_strict": rate(counts["RM_strict"], counts["CM_strict"] + counts["RM_strict"]),
        "RM_loose": rate(counts["RM_loose"], counts["CM_loose"] + counts["RM_loose"]),
        "one_step_accuracy": rate(sum(one_step), len(one_step)),
        "two_step_accuracy": rate(sum(multi_by_steps[2]), len(multi_by_steps[2])),
        "three_step_accuracy": rate(sum(multi_by_steps[3]), len(multi_by_steps[3])),
    }
    return metrics
