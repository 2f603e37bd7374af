"""The ``mcq`` verifier: the answer names the same option (letter, or option text)."""

from __future__ import annotations

import re

# "A", "A)", "A.", "A:", "(a)", "[B]", "A. text", "(B) 60°", "Option C", "Answer: D",
# "B, 12 cm", "C:45°".
_MCQ_BRACKETED = re.compile(r"[(\[]\s*([A-Za-z])\s*[)\]]")
_MCQ_LETTER = re.compile(r"([A-Za-z])(?:\s*[.):](?:\s|$)|\s*[.):]?$)")
_MCQ_UPPER_WITH_TEXT = re.compile(r"([A-Z])\s+\S")
# "B, 12 cm", "C:45°", "D; 3": an upper-case label, a separator and the option's value (forms
# VLMEvalKit's can_infer_option accepts). The value must not be another lone label, so a list
# such as "A, C" or "A, B, C, D" never reads as its first letter (no reward for hedging).
_MCQ_UPPER_SEPARATED = re.compile(r"([A-Z])\s*[,:;]\s*(?![A-Z](?:\W|$))\S")
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
    for pattern in (_MCQ_BRACKETED, _MCQ_LETTER, _MCQ_UPPER_WITH_TEXT, _MCQ_UPPER_SEPARATED):
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
