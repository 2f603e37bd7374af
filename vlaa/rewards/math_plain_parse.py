"""Plain intervals and equations parsed as Math-Verify parses them, without its LaTeX parser.

Math-Verify's parser spends 1-30 ms on an interval such as ``(3, 7)`` (its grammar is ambiguous
with tuples and sets) or an equation such as ``x = 3``. ``parse_plain`` returns the same result,
the sympy object then the stripped text (``[Interval.open(3, 7), '(3, 7)']``), for
  - ``(a, b)``, ``[a, b]``, ``(a, b]``, ``[a, b)`` with integers ``a < b``;
  - ``v = n`` and ``kv = n`` with an integer ``n``, ``k`` from 2 up without a leading zero, and
    ``v`` a lower-case letter other than ``e`` (Euler's number) and ``i`` (not real).
Anything else (``a >= b`` is a tuple or a set to Math-Verify; decimals, upper case, ``\\left(``,
wrappers) is ``None``: Math-Verify parses it.
tests/rewards/test_rewards_math_shortcuts.py checks it against Math-Verify's parse.
"""

from __future__ import annotations

import re
from typing import Any

_INTERVAL = re.compile(r"([(\[])\s*(-?\d{1,15})\s*,\s*(-?\d{1,15})\s*([)\]])")
_EQUATION = re.compile(r"([1-9]\d{0,14})?([a-df-hj-z])\s*=\s*(-?\d{1,15})")


def _interval(match: re.Match[str]) -> Any:
    start, end = int(match[2]), int(match[3])
    if start >= end:
        return None
    from sympy import Integer, Interval

    return Interval(Integer(start), Integer(end), match[1] == "(", match[4] == ")")


def _equation(match: re.Match[str]) -> Any:
    coefficient = match[1]
    if coefficient == "1":  # Math-Verify keeps 1*x unevaluated
        return None
    from sympy import Eq, Integer, Mul, Symbol

    variable = Symbol(match[2], real=True)
    lhs = variable if coefficient is None else Mul(Integer(int(coefficient)), variable)
    return Eq(lhs, Integer(int(match[3])))


def parse_plain(text: str) -> tuple[Any, ...] | None:
    """Math-Verify's parse of ``text`` when it is a plain interval or equation, else ``None``."""
    stripped = text.strip()
    match = _INTERVAL.fullmatch(stripped)
    parsed = _interval(match) if match is not None else None
    if parsed is None:
        match = _EQUATION.fullmatch(stripped)
        parsed = _equation(match) if match is not None else None
    return None if parsed is None else (parsed, stripped)
