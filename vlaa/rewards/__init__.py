"""The mixed reward of GRPO (the paper, "GRPO with the mixed reward"; records: vlaa/records.py).

This package owns turning one completion into one reward: extracting the answer outside
``<think>`` (``extract``), the verifier of each ``reward_type`` (one module each: ``digit``,
``mcq``, ``math`` with its ``math_fastpath``, ``math_monomial``, ``math_normalise``,
``math_plain_parse`` and ``math_shortcuts``, ``iou``, ``open``), and the
``registry`` that maps a type's name to its verifier (``VERIFIERS``, ``verifier(name)``) and
scores a completion (``score``). Each sample is scored by exactly one verifier chosen by its
``reward_type``; there is no weighted sum. The format reward is implicit: a completion without
an extractable ``<answer>`` scores 0. Nothing here loads torch, transformers or trl; Math-Verify
and sympy are imported on first use. Box parsing is ``vlaa.boxes``'s; the reward models behind
``open`` are ``vlaa.reward_models``'s, and handing rewards to TRL is
``vlaa.training.reward_router``'s.
"""

from __future__ import annotations

from vlaa.boxes import box_iou
from vlaa.records import REWARD_TYPES
from vlaa.rewards.digit import MAX_NUMBER_CHARS, parse_number, score_digit
from vlaa.rewards.extract import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    extract_answer,
)
from vlaa.rewards.iou import parse_box, score_iou
from vlaa.rewards.math import (
    MATH_PARSE_CACHE_SIZE,
    MATH_SCORE_CACHE_SIZE,
    MATH_TIMEOUT_SECONDS,
    MAX_MATH_ANSWER_CHARS,
    clear_math_caches,
    score_math,
)

# Private helpers that vlaa.benchmarks.scoring and the math tests imported from the single
# module this package replaced; re-exported (``x as x``) so those imports keep working.
from vlaa.rewards.math import _math_parse as _math_parse
from vlaa.rewards.math import _math_timeout as _math_timeout
from vlaa.rewards.math import _parse_ground_truth as _parse_ground_truth
from vlaa.rewards.math import _score_math_cached as _score_math_cached
from vlaa.rewards.math import _score_math_verify as _score_math_verify
from vlaa.rewards.math_fastpath import _fast_math_number as _fast_math_number
from vlaa.rewards.math_fastpath import _float_verdict as _float_verdict
from vlaa.rewards.math_fastpath import _numbers_equivalent as _numbers_equivalent
from vlaa.rewards.math_fastpath import _rounded_key as _rounded_key
from vlaa.rewards.math_fastpath import _to_sympy as _to_sympy
from vlaa.rewards.math_monomial import _verify_without_sympy as _verify_without_sympy
from vlaa.rewards.mcq import normalize_mcq, score_mcq
from vlaa.rewards.open import OpenScorer, open_reward, reference_answers, score_open
from vlaa.rewards.registry import VERIFIERS, Verifier, score, verifier

__all__ = [
    "ANSWER_CLOSE",
    "ANSWER_OPEN",
    "MATH_PARSE_CACHE_SIZE",
    "MATH_SCORE_CACHE_SIZE",
    "MATH_TIMEOUT_SECONDS",
    "MAX_MATH_ANSWER_CHARS",
    "MAX_NUMBER_CHARS",
    "REWARD_TYPES",
    "THINK_CLOSE",
    "THINK_OPEN",
    "VERIFIERS",
    "OpenScorer",
    "Verifier",
    "box_iou",
    "clear_math_caches",
    "extract_answer",
    "normalize_mcq",
    "open_reward",
    "parse_box",
    "parse_number",
    "reference_answers",
    "score",
    "score_digit",
    "score_iou",
    "score_math",
    "score_mcq",
    "score_open",
    "verifier",
]
