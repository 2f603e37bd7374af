"""The plain-number fast path of the ``math`` verifier, exact to Math-Verify's verdict.

``_fast_math_number`` reads the number Math-Verify's parser would produce from a plain-number
answer, and ``_numbers_equivalent`` reproduces Math-Verify's verdict on two such numbers in
plain Python (sympy only where a float comparison is undecided here).
tests/rewards/test_rewards_math_fastpath.py checks both against Math-Verify and sympy.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

# Longer numerals go to Math-Verify: no real answer has them.
_MAX_FAST_DIGITS = 40
# A decimal with more significant digits than this becomes a sympy Float of more than 53 bits,
# whose rounding the fast path does not model; such comparisons use sympy itself.
_DOUBLE_DIGITS = 15

# The fast-path grammar, after outer whitespace is stripped. A number is one of
#   [+-]integer             3, -12, 007
#   [+-]decimal             3.25, .5, -0.125 (no exponent)
#   [-]grouped              1,000  -12,345.5 (groups of three, not led by 0; never "+")
#   [+-]\frac{[-]a}{[-]b}   also \dfrac and \tfrac; a, b integers, b != 0
#   [+-]a/b                 a, b unsigned integers, b != 0
# It may be wrapped, with spaces inside, in exactly one of ``$..$``, ``$$..$$``, ``\(..\)``,
# ``\[..\]``, ``\boxed{..}``, ``$\boxed{..}$``, and the whole may end with one ``.``. Inside a
# wrapper, after a fraction, after a grouped number or after a ``+`` sign, a trailing period
# goes to Math-Verify, which reads those differently ("1/2." as 1, "$3.$" as text). Percent
# signs, degrees, units, \pi, roots, exponents, scientific notation, intervals and sets, and
# anything else, go to Math-Verify.
_FAST_NUMBER = re.compile(
    r"(?P<sign>[+-]?)(?:"
    r"(?P<grouped>[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?)"
    r"|(?P<decimal>\d*\.\d+)"
    r"|(?P<integer>\d+)"
    r"|\\[dt]?frac\{(?P<fnum>-?\d+)\}\{(?P<fden>-?\d+)\}"
    r"|(?P<snum>\d+)/(?P<sden>\d+)"
    r")(?P<period>\.?)"
)
_FAST_WRAPPERS = (
    ("$\\boxed{", "}$"),
    ("\\boxed{", "}"),
    ("$$", "$$"),
    ("$", "$"),
    ("\\(", "\\)"),
    ("\\[", "\\]"),
)
_FAST_CHARS = frozenset("0123456789+-.,/{}$\\()[]boxedfract ")


class _FastNumber(NamedTuple):
    """A number as Math-Verify parses it: an exact ``Integer``/``Rational``, or a ``Float``.

    ``value`` is exact: the fraction itself, or the float's binary value when it has at most
    ``_DOUBLE_DIGITS`` significant digits (sympy then gives it 53 bits, a double). ``text`` is
    the float's digits (``None`` for exact numbers), and ``double`` says whether ``value``
    is known.
    """

    exact: bool
    value: Fraction
    text: str | None = None
    double: bool = True


def _unwrap_fast(text: str) -> tuple[str, bool] | None:
    """The text inside the one allowed wrapper, stripped, and whether there was a wrapper."""
    stripped = text.strip()
    for opening, closing in _FAST_WRAPPERS:
        if stripped.startswith(opening):
            body = stripped[len(opening) :]
            if body.endswith("."):
                body = body[:-1]
            if not body.endswith(closing):
                return None
            inner = body[: -len(closing)]
            if "$" in inner or "\\boxed" in inner or "\\(" in inner or "\\[" in inner:
                return None
            return inner.strip(), True
    return stripped, False


def _float_number(digits: str, negative: bool) -> _FastNumber:
    text = f"-{digits}" if negative else digits
    if len(Decimal(digits).as_tuple().digits) > _DOUBLE_DIGITS:
        return _FastNumber(False, Fraction(0), text, double=False)
    return _FastNumber(False, Fraction(float(text)), text)


def _fast_math_number(text: str) -> _FastNumber | None:
    """The number Math-Verify parses ``text`` to, when ``text`` is in the fast-path grammar.

    ``None`` means "not a plain number": the caller must ask Math-Verify. Math-Verify's quirks
    are kept: ``3.0`` is a float and ``3`` an integer; a bare ``0.5`` (or ``.5``) becomes
    ``\\frac{1}{2}`` while ``-0.5``, ``+0.5``, ``0.5.`` and ``0.50`` stay floats; ``1,000`` is
    a thousands-grouped integer.
    """
    if len(text) > 4 * _MAX_FAST_DIGITS or not _FAST_CHARS.issuperset(text):
        return None
    unwrapped = _unwrap_fast(text)
    if unwrapped is None:
        return None
    inner, wrapped = unwrapped
    match = _FAST_NUMBER.fullmatch(inner)
    if match is None or sum(c.isdigit() for c in inner) > _MAX_FAST_DIGITS:
        return None
    sign, period = match["sign"], match["period"]
    if period and (wrapped or sign == "+"):
        return None
    negative = sign == "-"
    if match["integer"] is not None:
        value = int(match["integer"])
        return _FastNumber(True, Fraction(-value if negative else value))
    if match["decimal"] is not None:
        digits = match["decimal"]
        if not sign and not period and digits in ("0.5", ".5"):
            return _FastNumber(True, Fraction(1, 2))
        return _float_number("0" + digits if digits.startswith(".") else digits, negative)
    if match["grouped"] is not None:
        if sign == "+" or period:
            return None
        plain = match["grouped"].replace(",", "")
        if "." in plain:
            return _float_number(plain, negative)
        return _FastNumber(True, Fraction(-int(plain) if negative else int(plain)))
    if period:
        return None
    if match["fnum"] is not None:
        numerator, denominator = int(match["fnum"]), int(match["fden"])
    else:
        numerator, denominator = int(match["snum"]), int(match["sden"])
    if denominator == 0:
        return None
    value = Fraction(numerator, denominator)
    return _FastNumber(True, -value if negative else value)


def _to_sympy(number: _FastNumber) -> Any:
    """The sympy object Math-Verify's parser builds for ``number``."""
    import sympy

    if number.exact:
        return sympy.Rational(number.value.numerator, number.value.denominator)
    assert number.text is not None
    if number.text.startswith("-"):
        return -sympy.Float(number.text[1:])
    return sympy.Float(number.text)


_SIX_PLACES = 10**6
_HALF = Fraction(1, 2)
_FAST_FLOAT_RANGE = (Fraction(1, 10**4), Fraction(10**8))


def _decimal_magnitude(value: Fraction) -> int:
    """sympy's ``_mag``: the ``m`` with ``10**(m-1) <= value < 10**m``, for positive values."""
    magnitude = 0
    while value >= 10**magnitude:
        magnitude += 1
    while value < Fraction(10) ** (magnitude - 1):
        magnitude -= 1
    return magnitude


def _rounded_key(number: _FastNumber) -> tuple[Any, ...] | None:
    """What sympy's ``number.round(6)`` returns, as a key equal exactly when sympy's are.

    ``round`` keeps an integer as an ``Integer``; otherwise it returns a ``Float`` of the value
    rounded to six places, with 15 digits when that value is whole and ``magnitude + 6``
    digits otherwise, and sympy's Floats are equal only with equal value and precision. sympy
    rounds twice (to 15 significant digits, then to six places), so values within two units
    of the 15th digit of a tie at the 6th place, values just below a power of ten (where
    ``_mag`` is computed on a float) and values outside [1e-4, 1e8) give ``None``: undecided.
    """
    value = number.value
    if number.exact and value.denominator == 1:
        return ("Integer", value)
    if value == 0:  # a Float zero is returned as is: 53 bits, 15 digits
        return ("Float", value, 15)
    size = abs(value)
    if not _FAST_FLOAT_RANGE[0] <= size < _FAST_FLOAT_RANGE[1]:
        return None
    magnitude = _decimal_magnitude(size)
    if size >= Fraction(10) ** magnitude * (1 - Fraction(1, 10**12)):
        return None
    scaled = size * _SIX_PLACES
    whole = scaled.numerator // scaled.denominator
    margin = Fraction(2 * 10**6, 10 ** (15 - magnitude))
    if abs(scaled - whole - _HALF) <= margin:
        return None
    rounded = whole + (1 if scaled - whole > _HALF else 0)
    if value < 0:
        rounded = -rounded
    if rounded % _SIX_PLACES == 0:
        return ("Float", Fraction(rounded // _SIX_PLACES), 15)
    return ("Float", Fraction(rounded, _SIX_PLACES), magnitude + 6)


def _float_verdict(gold: _FastNumber, predicted: _FastNumber) -> bool | None:
    """Math-Verify's verdict when a float is involved, or ``None`` when not decided here.

    For two numbers Math-Verify's ``sympy_expr_eq`` is true when (a) they are the same sympy
    object, (b) both ``round(6)`` to the same object, or (c) their difference is exactly zero,
    the exact side evaluated at the float's 53 bits.
    """
    for number in (gold, predicted):
        if not number.double or (number.exact and abs(number.value) >= 2**53):
            return None
    if gold.exact or predicted.exact:
        exact, inexact = (gold, predicted) if gold.exact else (predicted, gold)
        if float(exact.value) == float(inexact.value):  # (c); (a) cannot hold
            return True
    elif gold.value == predicted.value:  # (a) and (c)
        return True
    gold_key, predicted_key = _rounded_key(gold), _rounded_key(predicted)
    if gold_key is None or predicted_key is None:
        return None
    return gold_key == predicted_key


def _numbers_equivalent(gold: _FastNumber, predicted: _FastNumber) -> bool:
    """Math-Verify's verdict on two parsed numbers.

    Two exact numbers (integers, fractions) are equivalent only when equal: Math-Verify's
    string, numeric and symbolic checks all reduce to that. With a float involved the verdict
    is ``_float_verdict``'s, or, where that is undecided, Math-Verify's own comparison
    (``sympy_expr_eq`` with its defaults) of the sympy numbers.
    """
    if gold.exact and predicted.exact:
        return gold.value == predicted.value
    verdict = _float_verdict(gold, predicted)
    if verdict is not None:
        return verdict
    from math_verify.grader import sympy_expr_eq

    try:
        return bool(sympy_expr_eq(_to_sympy(gold), _to_sympy(predicted), 6, 15, False, True))
    except Exception:  # Math-Verify scores a comparison error as "not equal"
        return False
