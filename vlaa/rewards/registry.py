"""Which verifier scores which ``reward_type``, and scoring one completion with it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from vlaa.records import REWARD_TYPES
from vlaa.rewards.digit import score_digit
from vlaa.rewards.extract import extract_answer
from vlaa.rewards.iou import score_iou
from vlaa.rewards.math import score_math
from vlaa.rewards.mcq import score_mcq
from vlaa.rewards.open import score_open

# ``verifier(predicted_answer, ground_truth, **context) -> reward``. The rule verifiers take no
# context; ``open`` needs ``scorer=`` (see ``score_open``).
Verifier = Callable[..., float]

# One verifier per reward type, in the order of ``vlaa.records.REWARD_TYPES``.
VERIFIERS: Mapping[str, Verifier] = MappingProxyType(
    {
        "digit": score_digit,
        "mcq": score_mcq,
        "math": score_math,
        "iou": score_iou,
        "open": score_open,
    }
)


def verifier(name: str) -> Verifier:
    """The verifier of reward type ``name``; a ``ValueError`` naming the known ones if none."""
    try:
        return VERIFIERS[name]
    except KeyError:
        known = ", ".join(VERIFIERS)
        raise ValueError(f"unknown verifier {name!r}; known verifiers are: {known}") from None


def score(reward_type: str, completion: str, answer: object, **context: Any) -> float | None:
    """Reward in [0, 1] for one completion, or ``None`` when no scorer exists for the type.

    ``context`` carries what model-based rewards need: for ``open``, ``scorer`` (a callable
    ``(image, question, answer_text) -> float``), ``beta`` (default 1.0), ``image`` and
    ``question``. Other rules ignore it, so a trainer may pass the same context to every type.
    Errors raised by an ``open`` scorer propagate: a broken reward model is not a zero reward.
    """
    if reward_type not in REWARD_TYPES:
        valid = ", ".join(REWARD_TYPES)
        raise ValueError(f"unknown reward_type {reward_type!r}; valid types are: {valid}")
    if reward_type == "open":
        scorer = context.get("scorer")
        if scorer is None:
            return None
        predicted = extract_answer(completion)
        if predicted is None:
            return 0.0
        return score_open(
            predicted,
            answer,
            scorer=scorer,
            beta=float(context.get("beta", 1.0)),
            image=context.get("image"),
            question=str(context.get("question", "")),
        )
    predicted = extract_answer(completion)
    if not predicted:
        return 0.0
    return verifier(reward_type)(predicted, answer)
