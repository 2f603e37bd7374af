"""The ``math`` verifier: Math-Verify's equivalence of the answer and the ground truth.

Math-Verify costs 1-3 ms to parse a new LaTeX string and more to simplify a wrong answer, far
too slow for the trainer's budget. ``score_math`` therefore
  1. scores an answer whose both sides are plain numbers (the common case) on an exact fast
     path (``vlaa.rewards.math_fastpath``): ``_fast_math_number`` reads the number
     Math-Verify's parser would produce and ``_numbers_equivalent`` reproduces Math-Verify's
     verdict on two numbers in plain Python;
  2. otherwise runs Math-Verify itself, reusing parsed ground truths, which repeat across a
     GRPO group and across epochs (``_parse_ground_truth``), and parsed answers, which recur
     across a group and across ground truths (``_parse_prediction``); plain intervals and
     equations (``(3, 7)``, ``x = 3``), slow for Math-Verify's parser, are parsed to the same
     result without it (``vlaa.rewards.math_plain_parse``); a number against prose, equal
     objects, constants clearly apart and linear equations are decided without sympy's
     simplify and solve (``vlaa.rewards.math_monomial``, ``vlaa.rewards.math_shortcuts``);
  3. first rewrites plain-text notation on either side ("2 * sin(x)", "x**2", "1 000") as the
     LaTeX Math-Verify reads as meant (``vlaa.rewards.math_normalise``), so that records
     built before ground truths were normalised at import still score right;
  4. remembers recent (answer, ground truth) scores, since identical answers are common
     within a group (``_score_math_cached``).
``_score_math_verify`` is the reference: plain Math-Verify, no fast path, no cache and no
rewriting (LaTeX and plain numbers are left as written, or grouped numbers rewritten to
the same value, so on those the two agree exactly).
tests/rewards/test_rewards_math_fastpath.py checks the fast path against it and against sympy,
tests/rewards/test_rewards_math_shortcuts.py the plain parses and the shortcuts.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from vlaa.rewards.math_fastpath import _fast_math_number, _numbers_equivalent
from vlaa.rewards.math_normalise import normalise_math_answer
from vlaa.rewards.math_plain_parse import parse_plain
from vlaa.rewards.math_shortcuts import verify_shortcut

# Longer answers are not parsed: no real answer is that long, and sympy parsing time grows
# badly with input size.
MAX_MATH_ANSWER_CHARS = 2_000
MATH_TIMEOUT_SECONDS = 5
MATH_PARSE_CACHE_SIZE = 8_192
MATH_SCORE_CACHE_SIZE = 8_192


def _as_latex(text: str) -> str:
    """Wrap bare text in ``$...$`` so Math-Verify's LaTeX extractor reads all of it.

    Without delimiters Math-Verify falls back to extracting a plain expression, which reads
    ``1+2x`` as ``1``.
    """
    stripped = text.strip()
    if "$" in stripped or "\\(" in stripped or "\\[" in stripped or "\\boxed" in stripped:
        return stripped
    return f"${stripped}$"


def _math_parse(text: str, timeout: int | None) -> list[Any]:
    from math_verify import parse

    parsed = parse(_as_latex(text), parsing_timeout=timeout)
    if not parsed:
        parsed = parse(text, parsing_timeout=timeout)
    return parsed


@functools.lru_cache(maxsize=MATH_PARSE_CACHE_SIZE)
def _parse_ground_truth(answer: str, timeout: int | None) -> tuple[Any, ...]:
    """Math-Verify's parse of a ground truth, kept: a tuple, so no caller can change it."""
    return parse_plain(answer) or tuple(_math_parse(answer, timeout))


@functools.lru_cache(maxsize=MATH_PARSE_CACHE_SIZE)
def _parse_prediction(answer: str, timeout: int | None) -> tuple[Any, ...]:
    """Math-Verify's parse of an answer, kept apart from ground truths (whose cache is counted)."""
    return parse_plain(answer) or tuple(_math_parse(answer, timeout))


def _math_timeout() -> int | None:
    # Math-Verify's timeout uses SIGALRM, which only the main thread may use.
    on_main = threading.current_thread() is threading.main_thread()
    return MATH_TIMEOUT_SECONDS if on_main else None


def _score_math_verify(predicted: str, answer: object) -> float:
    """Plain Math-Verify, the reference ``score_math`` agrees with: no fast path, no cache.

    Any parser error or timeout scores 0. Math-Verify's timeout uses ``SIGALRM``, which only
    works on the main thread; elsewhere it runs without one, bounded by the length cap.
    """
    from math_verify import verify
    from math_verify.errors import TimeoutException

    if not isinstance(answer, str) or not predicted.strip() or not answer.strip():
        return 0.0
    if len(predicted) > MAX_MATH_ANSWER_CHARS:
        return 0.0
    timeout = _math_timeout()
    try:
        gold = _math_parse(answer, timeout)
        target = _math_parse(predicted, timeout)
        if not gold or not target:
            return 0.0
        return 1.0 if verify(gold, target, timeout_seconds=timeout) else 0.0
    except (Exception, TimeoutException):  # Math-Verify's timeout is a BaseException
        return 0.0


def _fast_verdict(predicted: str, answer: str) -> float | None:
    """The score when both sides are plain numbers (``vlaa.rewards.math_fastpath``), else None."""
    gold_number = _fast_math_number(answer)
    if gold_number is None:
        return None
    predicted_number = _fast_math_number(predicted)
    if predicted_number is None:
        return None
    return 1.0 if _numbers_equivalent(gold_number, predicted_number) else 0.0


@functools.lru_cache(maxsize=MATH_SCORE_CACHE_SIZE)
def _score_math_cached(predicted: str, answer: str) -> float:
    verdict = _fast_verdict(predicted, answer)
    if verdict is not None:  # plain numbers, which the rewriting below keeps at their value
        return verdict
    # Plain-text notation on either side ("2 * sin(x)", "x**2", "1 000") as LaTeX, so that
    # Math-Verify never reads a function name as a product; cached per string.
    predicted, answer = normalise_math_answer(predicted), normalise_math_answer(answer)
    verdict = _fast_verdict(predicted, answer)  # "1 000" is a plain number once rewritten
    if verdict is not None:
        return verdict
    from math_verify import verify
    from math_verify.errors import TimeoutException

    timeout = _math_timeout()
    try:
        gold = _parse_ground_truth(answer, timeout)
        target = _parse_prediction(predicted, timeout)
        if not gold or not target:
            return 0.0
        verdict = verify_shortcut(gold, target)
        if verdict is None:
            verdict = verify(list(gold), list(target), timeout_seconds=timeout)
        return 1.0 if verdict else 0.0
    except (Exception, TimeoutException):  # Math-Verify's timeout is a BaseException
        return 0.0


def clear_math_caches() -> None:
    """Forget parsed ground truths, normalised answers and remembered math scores (benchmarks
    start cold)."""
    _parse_ground_truth.cache_clear()
    _parse_prediction.cache_clear()
    normalise_math_answer.cache_clear()
    _score_math_cached.cache_clear()


def score_math(predicted: str, answer: object) -> float:
    """1 if Math-Verify finds the answer equivalent to the ground truth, else 0.

    The result is plain Math-Verify's (``_score_math_verify``), reached faster: plain numbers
    on both sides skip Math-Verify's parser and simplifier, and parsed ground truths and recent
    scores are cached. Any parser error or timeout scores 0; off the main thread Math-Verify
    runs without its ``SIGALRM`` timeout, bounded by the length cap.
    """
    if not isinstance(answer, str) or not predicted.strip() or not answer.strip():
        return 0.0
    if len(predicted) > MAX_MATH_ANSWER_CHARS:
        return 0.0
    return _score_math_cached(predicted, answer)
