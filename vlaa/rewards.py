"""The mixed reward of GRPO (PAPER.md, "GRPO with the mixed reward"; DESIGN.md, "Contracts").

Each sample is scored by exactly one verifier chosen by its ``reward_type``; there is no
weighted sum. The format reward is implicit: a completion without an extractable
``<answer>`` scores 0. The thinking text is never scored, so everything inside
``<think>...</think>`` is ignored, including answer tags injected there.

All parsing here is linear in the completion length (``str.find`` scans and regexes without
nested quantifiers), because policies under RL pressure produce degenerate, huge outputs.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, NamedTuple

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

# Math-Verify costs 1-3 ms to parse a new LaTeX string and more to simplify a wrong answer, far
# too slow for the trainer's budget. ``score_math`` therefore
#   1. scores an answer whose both sides are plain numbers (the common case) on an exact fast
#      path: ``_fast_math_number`` reads the number Math-Verify's parser would produce and
#      ``_numbers_equivalent`` reproduces Math-Verify's verdict on two numbers in plain Python;
#   2. otherwise runs Math-Verify itself, reusing parsed ground truths, which repeat across a
#      GRPO group and across epochs (``_parse_ground_truth``);
#   3. remembers recent (answer, ground truth) scores, since identical answers are common
#      within a group (``_score_math_cached``).
# ``_score_math_verify`` is the reference: plain Math-Verify, no fast path and no cache.
# tests/test_rewards_math_fastpath.py checks the fast path against it and against sympy.

MATH_PARSE_CACHE_SIZE = 8_192
MATH_SCORE_CACHE_SIZE = 8_192
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
    return tuple(_math_parse(answer, timeout))


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


# Math-Verify's ``verify`` is true when any (gold, answer) pair of parsed alternatives matches.
# A pair of strings matches when equal after ``strip`` (and not empty); a string and a sympy
# object never match. For a plain number (``Integer``/``Rational``/``Float``) against a
# non-constant monomial, a product and powers of Symbols times a non-zero constant (prose such
# as "I think it is seven" parses to ``E**2*I*h*i**3*...``), Math-Verify's ``sympy_expr_eq``
# (strict, the default) takes these branches, and none can find them equal except the last:
#   - no assignment or equation unwrapping (neither side is ``Eq``/``And``); no set, interval,
#     relation or matrix branch (neither side is one);
#   - ``sympy_str_eq``: ``number == monomial`` is structurally false (the number is not
#     nan/zoo, so it does not raise);
#   - a Mul/Pow answer goes to ``sympy_numeric_eq``: with a Float, ``round`` of a symbolic
#     expression raises and is caught (false); two Integers, no (the answer is none); else
#     ``doit()`` of each compared structurally, and evaluating a non-constant expression never
#     gives a number; then ``sympy_symbolic_eq``: ``simplify(number - monomial).is_zero``,
#     never true since the difference is not constant (the exponents of some Symbol do not sum
#     to zero, and the coefficient is a finite non-zero constant, so e.g. ``0*x``, ``x/x``
#     and ``x^0`` are excluded; an unevaluated product is summed over all its factors);
#   - a bare Symbol answer goes to ``sympy_compare_symbols``, whose only applicable branch is
#     ``str(gold) == str(pred)``: ``\text{7}`` parses to ``Symbol('7')`` and equals ``7``.
# ``_verify_without_sympy`` returns that verdict, or ``None`` when any pair of sympy objects is
# of another shape: then Math-Verify decides. tests/test_rewards_math_fastpath.py checks it
# against plain Math-Verify on prose, words, symbols and units against numeric ground truths.


def _constant_factor(expr: Any) -> bool:
    """A finite non-zero constant: a number, ``E``, ``pi`` or ``I``, or an integer power of one."""
    from sympy import Float, Integer, Pow, Rational, S

    if isinstance(expr, Rational | Float):
        return bool(expr != 0)
    if expr is S.Exp1 or expr is S.Pi or expr is S.ImaginaryUnit:
        return True
    return isinstance(expr, Pow) and isinstance(expr.exp, Integer) and _constant_factor(expr.base)


def _add_exponents(expr: Any, exponents: dict[Any, Fraction]) -> bool:
    """Add each Symbol's exponent in the product ``expr``; false if it is not such a product."""
    from sympy import Mul, Pow, Rational, Symbol

    if type(expr) is Symbol:
        exponents[expr] = exponents.get(expr, Fraction(0)) + 1
        return True
    if isinstance(expr, Pow) and type(expr.base) is Symbol and isinstance(expr.exp, Rational):
        power = Fraction(int(expr.exp.p), int(expr.exp.q))
        exponents[expr.base] = exponents.get(expr.base, Fraction(0)) + power
        return True
    if isinstance(expr, Mul):
        return all(_add_exponents(arg, exponents) for arg in expr.args)
    return _constant_factor(expr)


def _nonconstant_monomial(expr: Any) -> bool:
    """``expr`` is a non-zero constant times Symbols to rational powers, not all cancelling."""
    from sympy import Mul, Pow, Symbol

    if not (type(expr) is Symbol or isinstance(expr, Mul | Pow)):
        return False
    exponents: dict[Any, Fraction] = {}
    if not _add_exponents(expr, exponents):
        return False
    return any(power != 0 for power in exponents.values())


def _verify_without_sympy(gold: Sequence[Any], target: Sequence[Any]) -> bool | None:
    """Math-Verify's ``verify(gold, target)`` where decided without sympy, else ``None``.

    See the comment above: string pairs compare stripped, string-sympy pairs never match, and a
    plain number against a non-constant monomial matches only a Symbol named as the number
    prints.
    """
    from sympy import Basic, Float, Rational, Symbol
    from sympy.matrices import MatrixBase

    for gold_item in gold:
        for target_item in target:
            if isinstance(gold_item, str) and isinstance(target_item, str):
                gold_text, target_text = gold_item.strip(), target_item.strip()
                if gold_text and gold_text == target_text:
                    return True
            elif isinstance(gold_item, Basic | MatrixBase) and isinstance(
                target_item, Basic | MatrixBase
            ):
                if not isinstance(gold_item, Rational | Float):
                    return None
                if not _nonconstant_monomial(target_item):
                    return None
                if type(target_item) is Symbol and str(gold_item) == str(target_item):
                    return True
    return False


@functools.lru_cache(maxsize=MATH_SCORE_CACHE_SIZE)
def _score_math_cached(predicted: str, answer: str) -> float:
    gold_number = _fast_math_number(answer)
    if gold_number is not None:
        predicted_number = _fast_math_number(predicted)
        if predicted_number is not None:
            return 1.0 if _numbers_equivalent(gold_number, predicted_number) else 0.0
    from math_verify import verify
    from math_verify.errors import TimeoutException

    timeout = _math_timeout()
    try:
        gold = _parse_ground_truth(answer, timeout)
        target = _math_parse(predicted, timeout)
        if not gold or not target:
            return 0.0
        verdict = _verify_without_sympy(gold, target)
        if verdict is None:
            verdict = verify(list(gold), target, timeout_seconds=timeout)
        return 1.0 if verdict else 0.0
    except (Exception, TimeoutException):  # Math-Verify's timeout is a BaseException
        return 0.0


def clear_math_caches() -> None:
    """Forget parsed ground truths and remembered math scores (benchmarks start cold)."""
    _parse_ground_truth.cache_clear()
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
