"""The ``digit`` verifier: the answer and the ground truth are the same decimal number."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Answers longer than this are not parsed: no real number is that long.
MAX_NUMBER_CHARS = 64

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
