"""The number a benchmark answer states, read as the scoring rules need it."""

from __future__ import annotations

import math
import re

# Math-Verify helpers are reused from the reward code so evaluation parses LaTeX exactly as
# the math reward does (same wrapping, same SIGALRM-only-on-the-main-thread timeout rule).
from vlaa.rewards import MAX_NUMBER_CHARS, _math_parse, _math_timeout, parse_number

# "1e-7": read before Math-Verify, which takes the ``e`` for Euler's number (1e-7 -> e - 7).
_SCIENTIFIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d{1,3}")
_LEADING_NUMBER = re.compile(r"\s*([+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+)")


def parse_numeric(text: str) -> float | None:
    """The number an answer states, or ``None``.

    Plain numbers first (``vlaa.rewards.parse_number``; a trailing ``%`` is dropped because
    benchmarks store percentages as plain numbers), then Math-Verify's reading of LaTeX
    (``\\frac{3}{4}``, ``2\\pi``, ``\\sqrt{2}``, ``x = 5``), then a number leading the text
    (``5 cm``, ``45°``).
    """
    cleaned = text.strip().rstrip(".").strip()
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1].strip()
    value = number_value(cleaned)
    if value is not None:
        return value
    match = _LEADING_NUMBER.match(cleaned)
    if match and len(match.group(1)) <= MAX_NUMBER_CHARS:
        return float(match.group(1).replace(",", ""))
    return None


def number_value(text: str) -> float | None:
    """A number's value: plain, scientific (``1e-7``), else Math-Verify's numeric reading."""
    cleaned = text.strip()
    plain = parse_number(cleaned)
    if plain is not None:
        return float(plain)
    if _SCIENTIFIC.fullmatch(cleaned):
        return float(cleaned)
    return _math_verify_number(cleaned)


def _math_verify_number(text: str) -> float | None:
    from math_verify.errors import TimeoutException
    from sympy import Eq

    if len(text) > 200:  # no real numeric answer is longer; keeps sympy's cost bounded
        return None
    try:
        parsed = _math_parse(text, _math_timeout())
    except (Exception, TimeoutException):  # Math-Verify's timeout is a BaseException
        return None
    for expr in parsed:
        if isinstance(expr, Eq):  # "x = 5" states the value on the right
            expr = expr.rhs
        if getattr(expr, "is_number", False):
            try:
                value = complex(expr.evalf())
            except (TypeError, ValueError):
                continue
            if value.imag == 0 and math.isfinite(value.real):
                return value.real
    return None
