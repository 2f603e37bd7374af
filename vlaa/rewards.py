"""The mixed reward of GRPO (PAPER.md, "GRPO with the mixed reward"; DESIGN.md, "Contracts").

Each sample is scored by exactly one verifier chosen by its ``reward_type``; there is no
weighted sum. The format reward is implicit: a completion without an extractable
``<answer>`` scores 0. The thinking text is never scored, so everything inside
``<think>...</think>`` is ignored, including answer tags injected there.

All parsing here is linear in the completion length (``str.find`` scans and regexes without
nested quantifiers), because policies under RL pressure produce degenerate, huge outputs.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from vlaa.records import REWARD_TYPES

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

# Answers longer than this are not parsed by the numeric / math verifiers: no real answer is
# that long, and sympy parsing time grows badly with input size.
MAX_NUMBER_CHARS = 64
MAX_MATH_ANSWER_CHARS = 2_000
MATH_TIMEOUT_SECONDS = 5

# (image, question, answer_text) -> reward-model score; higher is better.
OpenScorer = Callable[[Any, str, str], float]


# ----------------------------------------------------------------------------- extraction


def _outside_think(completion: str) -> list[str]:
    """The pieces of ``completion`` that lie outside thinking.

    - ``<think>...</think>`` regions are dropped.
    - An unclosed ``<think>`` drops everything after it.
    - A stray ``</think>`` with no opening tag closes an implicit think that began at the start
      of the completion (chat templates often pre-fill ``<think>`` in the prompt), so every
      piece collected before it is dropped as well.
    """
    pieces: list[str] = []
    pos = 0
    # Next tag positions are cached and only searched again once passed, so a completion with
    # thousands of stray tags is still scanned in linear time.
    next_open = completion.find(THINK_OPEN)
    next_close = completion.find(THINK_CLOSE)
    while True:
        if next_close != -1 and (next_open == -1 or next_close < next_open):
            pieces.clear()
            pos = next_close + len(THINK_CLOSE)
            next_close = completion.find(THINK_CLOSE, pos)
            continue
        if next_open == -1:
            pieces.append(completion[pos:])
            return pieces
        pieces.append(completion[pos:next_open])
        if next_close == -1:
            return pieces
        pos = next_close + len(THINK_CLOSE)
        next_open = completion.find(THINK_OPEN, pos)
        next_close = completion.find(THINK_CLOSE, pos)


def _last_complete_answer(text: str) -> str | None:
    """Content of the last complete ``<answer>...</answer>`` in ``text``, or ``None``.

    An opening tag pairs with the next closing tag; when several openings precede one closing
    tag, the innermost (last) opening wins. Every character is scanned a bounded number of
    times, so this is linear.
    """
    found: str | None = None
    pos = 0
    while True:
        open_at = text.find(ANSWER_OPEN, pos)
        if open_at == -1:
            return found
        content_start = open_at + len(ANSWER_OPEN)
        close_at = text.find(ANSWER_CLOSE, content_start)
        if close_at == -1:
            return found
        inner_open = text.rfind(ANSWER_OPEN, content_start, close_at)
        if inner_open != -1:
            content_start = inner_open + len(ANSWER_OPEN)
        found = text[content_start:close_at]
        pos = close_at + len(ANSWER_CLOSE)


def extract_answer(completion: str) -> str | None:
    """The stripped text of the last complete ``<answer>`` outside thinking.

    Returns ``""`` for an empty answer tag (which scores 0) and ``None`` when there is no
    complete answer tag outside ``<think>`` (which also scores 0).
    """
    if not completion:
        return None
    # Joined with a space so that tag fragments on either side of a think block cannot be
    # glued into a new tag.
    visible = " ".join(_outside_think(completion))
    answer = _last_complete_answer(visible)
    return None if answer is None else answer.strip()


# ----------------------------------------------------------------------------- digit

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def parse_number(text: str) -> Decimal | None:
    """A plain decimal number with tolerated noise (spaces, trailing period, ``1,000``)."""
    cleaned = text.strip()
    if len(cleaned) > MAX_NUMBER_CHARS:
        return None
    if cleaned.endswith(".") and len(cleaned) > 1 and cleaned[-2].isdigit():
        cleaned = cleaned[:-1].rstrip()
    if _GROUPED_NUMBER.fullmatch(cleaned):
        cleaned = cleaned.replace(",", "")
    elif not _PLAIN_NUMBER.fullmatch(cleaned):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def score_digit(predicted: str, answer: object) -> float:
    """1 if both parse as the same number (``3.0`` equals ``3``), else 0."""
    expected = parse_number(str(answer)) if isinstance(answer, str | int | float) else None
    got = parse_number(predicted)
    if expected is None or got is None:
        return 0.0
    return 1.0 if got == expected else 0.0


# ----------------------------------------------------------------------------- mcq

# "A", "A)", "A.", "A:", "(a)", "[B]", "A. text", "(B) 60°", "Option C", "Answer: D".
_MCQ_BRACKETED = re.compile(r"[(\[]\s*([A-Za-z])\s*[)\]]")
_MCQ_LETTER = re.compile(r"([A-Za-z])(?:\s*[.):](?:\s|$)|\s*[.):]?$)")
_MCQ_UPPER_WITH_TEXT = re.compile(r"([A-Z])\s+\S")
_MCQ_PREFIX = re.compile(
    r"(?:the\s+)?(?:correct\s+)?(?:answer|option|choice)\b\s*(?:is\b\s*)?:?\s*", re.IGNORECASE
)


def normalize_mcq(text: str) -> str | None:
    """The option letter (upper case) an answer names, or ``None`` if it names none.

    A bare lower-case letter followed by text ("a cat") is read as an article, not an option.
    """
    cleaned = text.strip()
    prefix = _MCQ_PREFIX.match(cleaned)
    if prefix:
        cleaned = cleaned[prefix.end() :]
    for pattern in (_MCQ_BRACKETED, _MCQ_LETTER, _MCQ_UPPER_WITH_TEXT):
        match = pattern.match(cleaned)
        if match:
            return match.group(1).upper()
    return None


def _plain_text(text: str) -> str:
    """Case- and whitespace-insensitive form used when an answer names no letter."""
    return " ".join(text.casefold().split()).rstrip(".")


def score_mcq(predicted: str, answer: object) -> float:
    """1 if the option letters agree after normalisation, else 0.

    When the ground truth names no letter (an option's text), the texts are compared
    case- and whitespace-insensitively instead.
    """
    if not isinstance(answer, str):
        return 0.0
    expected = normalize_mcq(answer)
    if expected is None:
        return 1.0 if _plain_text(predicted) == _plain_text(answer) and predicted else 0.0
    return 1.0 if normalize_mcq(predicted) == expected else 0.0


# ----------------------------------------------------------------------------- math


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


def score_math(predicted: str, answer: object) -> float:
    """1 if Math-Verify finds the answer equivalent to the ground truth, else 0.

    Any parser error or timeout scores 0. Math-Verify's timeout uses ``SIGALRM``, which only
    works on the main thread; elsewhere it runs without one, bounded by the length cap.
    """
    from math_verify import verify
    from math_verify.errors import TimeoutException

    if not isinstance(answer, str) or not predicted.strip() or not answer.strip():
        return 0.0
    if len(predicted) > MAX_MATH_ANSWER_CHARS:
        return 0.0
    on_main = threading.current_thread() is threading.main_thread()
    timeout = MATH_TIMEOUT_SECONDS if on_main else None
    try:
        gold = _math_parse(answer, timeout)
        target = _math_parse(predicted, timeout)
        if not gold or not target:
            return 0.0
        return 1.0 if verify(gold, target, timeout_seconds=timeout) else 0.0
    except (Exception, TimeoutException):  # Math-Verify's timeout is a BaseException
        return 0.0


# ----------------------------------------------------------------------------- iou

_NUMBER = r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*"
_BOX = re.compile(r"\[" + ",".join([_NUMBER] * 4) + r"\]")


def parse_box(text: str) -> tuple[float, float, float, float] | None:
    """The first ``[x1, y1, x2, y2]`` in ``text``, or ``None`` if absent or degenerate."""
    match = _BOX.search(text)
    if not match:
        return None
    return _valid_box([float(value) for value in match.groups()])


def _valid_box(values: Sequence[float]) -> tuple[float, float, float, float] | None:
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        return None
    x1, y1, x2, y2 = values
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def _ground_truth_box(answer: object) -> tuple[float, float, float, float] | None:
    if isinstance(answer, str):
        return parse_box(answer)
    if isinstance(answer, list | tuple):
        try:
            return _valid_box([float(v) for v in answer])
        except (TypeError, ValueError):
            return None
    return None


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return max(0.0, min(1.0, inter / union)) if union > 0 else 0.0


def score_iou(predicted: str, answer: object) -> float:
    """Continuous IoU of the predicted box with the ground truth; malformed boxes score 0."""
    expected = _ground_truth_box(answer)
    got = parse_box(predicted)
    if expected is None or got is None:
        return 0.0
    return box_iou(got, expected)


# ----------------------------------------------------------------------------- open


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
    """Reward-model margin of the answer over the reference answer, squashed into [0, 1)."""
    if beta <= 0 or not math.isfinite(beta):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    if not predicted:
        return 0.0
    reference = str(answer)
    predicted_score = float(scorer(image, question, predicted))
    reference_score = float(scorer(image, question, reference))
    return open_reward(predicted_score, reference_score, beta)


# ----------------------------------------------------------------------------- dispatch

_RULE_SCORERS: dict[str, Callable[[str, object], float]] = {
    "digit": score_digit,
    "mcq": score_mcq,
    "math": score_math,
    "iou": score_iou,
}


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
    return _RULE_SCORERS[reward_type](predicted, answer)
