"""The ``open`` verifier: a reward model's margin of the answer over the reference answer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from vlaa.records import is_answer_list, parse_answer_list

# (image, question, answer_text) -> reward-model score; higher is better.
OpenScorer = Callable[[Any, str, str], float]


def open_reward(predicted_score: float, reference_score: float, beta: float) -> float:
    """R = 1 - exp(-(S(y_hat) - S(y)) * beta) if S(y_hat) > S(y) else 0 (the paper's formula)."""
    if not (math.isfinite(predicted_score) and math.isfinite(reference_score)):
        return 0.0
    margin = predicted_score - reference_score
    if margin <= 0:
        return 0.0
    return 1.0 - math.exp(-margin * beta)


def score_open(
    predicted: str,
    answer: object,
    *,
    scorer: OpenScorer,
    beta: float = 1.0,
    image: Any = None,
    question: str = "",
) -> float:
    """Reward-model margin of the answer over the reference answer, squashed into [0, 1).

    ``answer`` may be a list of accepted answers (or its JSON text, as GRPO rows carry it):
    the reward is the best over them."""
    if beta <= 0 or not math.isfinite(beta):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    if not predicted:
        return 0.0
    predicted_score = float(scorer(image, question, predicted))
    # Any-of: several annotators' answers (DocVQA, VizWiz); the margin over the closest counts.
    rewards = [
        open_reward(predicted_score, float(scorer(image, question, reference)), beta)
        for reference in reference_answers(answer)
    ]
    return max(rewards)


def reference_answers(answer: object) -> list[str]:
    """The reference texts of an open answer: a list's items, or the one answer."""
    if is_answer_list(answer):
        return list(answer)  # type: ignore[arg-type]
    if isinstance(answer, str):
        return parse_answer_list(answer) or [answer]
    return [str(answer)]
