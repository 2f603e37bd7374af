"""The exact fast path of ``score_math`` against plain Math-Verify (differential tests).

``score_math`` must give exactly Math-Verify's score. Plain numbers skip Math-Verify: their
parse is modelled by ``_fast_math_number`` and Math-Verify's verdict by ``_numbers_equivalent``.
Each layer is checked against the real thing on seeded random inputs built around the quirks
(float rounding to 6 places, ties, ``3.0`` against ``3``, ``0.5`` becoming ``\\frac{1}{2}``,
thousands separators, trailing periods, wrappers) and around forms that must fall back (percent,
degrees, units, scientific notation, \\pi, roots, intervals, equations).

Prose and words against a numeric ground truth ("I think it is seven" parses to a product of
symbols) skip Math-Verify's simplify: ``_verify_without_sympy`` decides them, and is checked
against plain Math-Verify on seeded sentences, words, letters, Greek letters, ``\\text{}``,
units and symbols named like the ground truth.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
import sympy
from math_differential import differential
from math_verify.grader import sympy_expr_eq

from vlaa import rewards
from vlaa.rewards import (
    _fast_math_number,
    _float_verdict,
    _math_parse,
    _numbers_equivalent,
    _parse_ground_truth,
    _rounded_key,
    _score_math_verify,
    _to_sympy,
    _verify_without_sympy,
    clear_math_caches,
    score,
    score_math,
)

pytestmark = pytest.mark.usefixtures("quiet_cold_math")


# ----------------------------------------------------------------------------- generators


_QUIRKY_NUMBERS = (
    *("0.5", ".5", "-0.5", "+0.5", "0.50", "3.0", "3", "3.", "0.3333333", "0.333333"),
    *("1.0", "0.0", "-0.0", "00.5", "0.1", "1e-7", "1E3", "007", "1,000", "012,345"),
)


def _number(rng: random.Random) -> str:
    """A number in (or just outside) the fast-path grammar."""
    sign = rng.choice(["", "", "", "-", "+"])
    kind = rng.randrange(10)
    if kind == 0:
        return f"{sign}{rng.randint(0, 10 ** rng.randint(1, 12))}"
    if kind == 1:
        whole = "" if rng.random() < 0.1 else str(rng.randint(0, 10 ** rng.randint(0, 6)))
        places = rng.randint(1, 8)
        return f"{sign}{whole}.{rng.randint(0, 10**places - 1):0{places}d}"
    if kind == 2:
        fraction = f".{rng.randint(0, 999)}" if rng.random() < 0.3 else ""
        return f"{rng.choice(['', '-', '+'])}{rng.randint(1, 10**9):,}{fraction}"
    if kind == 3:
        top = f"{rng.choice(['', '-'])}{rng.randint(0, 50)}"
        bottom = f"{rng.choice(['', '', '-'])}{rng.randint(0, 50)}"
        return f"{sign}\\{rng.choice(['', 'd', 't'])}frac{{{top}}}{{{bottom}}}"
    if kind == 4:
        return f"{sign}{rng.randint(0, 50)}/{rng.randint(0, 50)}"
    if kind == 5:
        return rng.choice(_QUIRKY_NUMBERS)
    if kind == 6:
        return f"{sign}{rng.randint(0, 99)}.{'9' * rng.randint(5, 9)}"
    if kind == 7:
        return f"{sign}0.{'0' * rng.randint(4, 9)}{rng.randint(1, 9)}"
    if kind == 8:  # long decimals: sympy gives them more than 53 bits
        zeros = "0" * rng.choice([0, 0, 1, 3])
        places = rng.randint(10, 25)
        whole = rng.randint(0, 10 ** rng.randint(0, 12))
        return f"{sign}{zeros}{whole}.{rng.randint(0, 10**places - 1):0{places}d}"
    return f"{sign}{rng.random() * 10 ** rng.randint(-3, 6):.{rng.randint(0, 12)}f}"


def _wrap(rng: random.Random, core: str) -> str:
    """``core`` as a completion might write it, or in a form that must fall back."""
    if rng.random() < 0.2:
        core += "."

    def space() -> str:
        return rng.choice(["", "", " ", "  "])

    form = rng.randrange(9)
    if form == 0:
        text = core
    elif form == 1:
        text = f"${space()}{core}{space()}$"
    elif form == 2:
        text = f"\\boxed{{{space()}{core}{space()}}}"
    elif form == 3:
        text = f"$\\boxed{{{core}}}$"
    elif form == 4:
        text = f"\\({space()}{core}{space()}\\)"
    elif form == 5:
        text = rng.choice([f"\\[{core}\\]", f"$${core}$$"])
    elif form == 6:  # forms that are not plain numbers
        text = rng.choice(
            [
                *(f"{core}\\%", f"{core}%", f"{core}^\\circ", f"{core} cm", f"{core}\\pi"),
                *(f"\\sqrt{{{core}}}", f"x = {core}", f"({core}, 2)", f"{core}e-7", f"{{{core}}}"),
            ]
        )
    elif form == 7:
        text = f"{core} {rng.choice(['', 'apples', 'and 2', '+ 1'])}"
    else:
        text = f"- {core}" if rng.random() < 0.5 else f"{core}$"
    if rng.random() < 0.1:
        text += "."
    return space() + text + space()


def _forms(rng: random.Random, value: Fraction) -> list[str]:
    """Ways to write about ``value``: exactly, rounded, and off by a little."""
    forms = []
    if value.denominator == 1:
        n = value.numerator
        forms += [str(n), f"{n}.0", f"{n}.", f"{n:,}", f"\\boxed{{{n}}}"]
    forms += [
        f"\\frac{{{value.numerator}}}{{{value.denominator}}}",
        f"{value.numerator}/{value.denominator}",
        f"\\dfrac{{{value.numerator * 2}}}{{{value.denominator * 2}}}",
    ]
    x = value.numerator / value.denominator
    forms += [f"{x:.{places}f}" for places in (rng.randint(1, 8), 5, 6, 7, 8)]
    forms.append(repr(x))
    nudge = rng.choice([1e-7, -1e-7, 5e-7, 4e-7, 1e-6, 1e-9, 6e-7, -5e-7])
    forms.append(f"{x + nudge:.9f}")
    return forms


def _pair(rng: random.Random) -> tuple[str, str]:
    """(predicted, gold): unrelated numbers, equal values, or values a little apart."""
    kind = rng.randrange(4)
    if kind == 0:
        return _wrap(rng, _number(rng)), _wrap(rng, _number(rng))
    denominator = rng.choice([1, 1, 2, 3, 4, 6, 7, 8, 9, 12, 100, 1000])
    value = Fraction(rng.choice([1, -1]) * rng.randint(0, 40), denominator)
    gold = rng.choice(_forms(rng, value))
    other = value
    if kind == 3:
        other += Fraction(rng.choice([1, -1]), rng.choice([1, 10, 1000, 10**6, 10**7]))
    predicted = rng.choice(_forms(rng, other))
    if rng.random() < 0.5:
        gold = _wrap(rng, gold)
    if rng.random() < 0.5:
        predicted = _wrap(rng, predicted)
    return (predicted, gold) if rng.random() < 0.5 else (gold, predicted)


def _stress_number(rng: random.Random, near: float | None = None) -> str:
    """Numbers at the edges of the float comparison: ties, powers of ten, many digits."""
    if near is None:
        near = rng.choice(
            [
                rng.uniform(-100, 100),
                rng.uniform(-1, 1),
                rng.uniform(0, 1e7),
                rng.uniform(0, 1e-3),
                rng.randint(-20, 20) / rng.choice([1, 2, 3, 7, 9, 11, 100]),
                10.0 ** rng.randint(-5, 8),
            ]
        )
    kind = rng.randrange(7)
    if kind == 0:
        return f"{near:.{rng.randint(0, 9)}f}"
    if kind == 1:
        nudge = rng.choice([1e-7, 5e-7, 4.9e-7, 5.1e-7, 1e-6, 1e-9, 1e-12])
        return f"{near + rng.choice([1, -1]) * nudge:.{rng.randint(6, 14)}f}"
    if kind == 2:  # about a tie at the 6th decimal place
        tie = round(near * 1e6) + 0.5 + rng.choice([0, 0, 1e-9, -1e-9, 1e-6, -1e-6, 1e-3])
        return f"{tie / 1e6:.{rng.randint(7, 15)}f}"
    if kind == 3:
        return str(round(near))
    if kind == 4:
        value = Fraction(near).limit_denominator(rng.choice([10, 100, 1000]))
        return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    if kind == 5:
        return repr(near)
    return f"{near:.{rng.randint(15, 22)}f}"


_NUMBER_WORDS = ("zero", "one", "two", "three", "seven", "twelve", "hundred", "half")
_WORDS = (
    *("I", "think", "it", "is", "the", "answer", "apples", "cm", "total", "none", "a", "b"),
    *("nan", "oo", "inf", "pi", "e", "i", "E", "yes", "no", "sin", "ln", "x", "xy", "abc"),
)
_GREEK = ("\\alpha", "\\beta", "\\gamma", "\\theta", "\\pi", "\\lambda", "\\mu", "\\omega")


def _numeric_gold(rng: random.Random) -> str:
    """A plain-number ground truth as a dataset writes it."""
    n = rng.randint(0, 120)
    return rng.choice(
        [
            *(str(n), str(-n), "0", "1", "7", f"{n}.{rng.randint(0, 99)}", "0.5", "2.50"),
            *(f"\\frac{{{n}}}{{{rng.randint(2, 9)}}}", f"{n}/{rng.randint(2, 9)}", "1,000"),
            *(f"\\boxed{{{n}}}", f"${n}$", "-0.25"),
        ]
    )


def _prose(rng: random.Random, gold: str) -> str:
    """An answer in words, letters or symbols, near ``gold`` or not, as a policy writes it."""
    parsed = _math_parse(gold, None)
    printed = str(parsed[0]) if parsed else gold  # how sympy prints the gold: 1/2, 2.50000...
    n = rng.choice([gold, printed, str(rng.randint(0, 120))])
    word = rng.choice(_WORDS + _NUMBER_WORDS)
    greek = rng.choice(_GREEK)
    kind = rng.randrange(12)
    if kind == 0:  # an English sentence
        words = [rng.choice(_WORDS + _NUMBER_WORDS) for _ in range(rng.randint(2, 7))]
        return " ".join(words)
    if kind == 1:
        return rng.choice(
            [
                *("I think it is seven", "The answer is seven", "it is about seven"),
                *(f"the answer is {word}", f"I think it is {n}", f"{word} {word}"),
            ]
        )
    if kind == 2:  # one word or letter
        return word
    if kind == 3:  # digits inside words
        return rng.choice([f"{n} apples", f"apples{n}", f"{n}th", f"{n} {word}", f"a{n}b"])
    if kind == 4:  # symbols named like the gold
        return rng.choice(
            [f"\\text{{{n}}}", f"\\text{{{word}}}", f"\\mathrm{{{word}}}", f"\\text{{ {n} }}"]
        )
    if kind == 5:  # products with the number inside
        return rng.choice([f"{n}x", f"x{n}", f"x {n}", f"{n} \\cdot x", f"\\frac{{x}}{{{n}}}"])
    if kind == 6:  # Greek letters
        return rng.choice([greek, f"{n}{greek}", f"{greek}^2", f"{greek} {word}"])
    if kind == 7:  # units
        unit = rng.choice(["cm", "m", "kg", "s", "apples", "m/s", "cm^2"])
        return rng.choice([f"{n} {unit}", f"{n}\\text{{ {unit}}}", f"{n}\\,\\text{{{unit}}}"])
    if kind == 8:  # equations and percent
        return rng.choice([f"x={n}", f"x = {n}", f"{word} = {n}", f"{n}\\%", f"{n}%"])
    if kind == 9:  # products that cancel or vanish: Math-Verify must decide those
        return rng.choice(["x^0", "0x", "0 \\cdot y", "x/x", "\\frac{x}{x}", "x x^{-1}", "i^2"])
    if kind == 10:  # powers and roots of symbols
        return rng.choice(["x^2", "x^{-1}", "\\sqrt{x}", "x^2 y", "x y^{-1}", "e^x", "x^{1/2}"])
    return f"${word}$" if rng.random() < 0.5 else f"\\boxed{{{word}}}"


# ----------------------------------------------------------------------------- helpers


def _mpf_value(number: Any) -> Fraction:
    sign, mantissa, exponent, _ = number._mpf_
    value = Fraction(mantissa) * Fraction(2) ** exponent
    return -value if sign else value


def _check_parse(text: str) -> bool:
    """Whether ``text`` took the fast path; asserts it parsed as Math-Verify parses it."""
    number = _fast_math_number(text)
    if number is None:
        return False
    parsed = _math_parse(text, None)
    ours = _to_sympy(number)
    assert len(parsed) == 2 and isinstance(parsed[1], str), (text, parsed)
    assert sympy.srepr(parsed[0]) == sympy.srepr(ours), (text, parsed, number)
    if not number.exact and number.double:
        assert ours._prec == 53 and _mpf_value(ours) == number.value, (text, number)
    return True


def _math_verify_verdict(gold: Any, predicted: Any) -> bool:
    try:
        return bool(sympy_expr_eq(_to_sympy(gold), _to_sympy(predicted), 6, 15, False, True))
    except Exception:
        return False


def _run_parse_differential(seed: int, n: int) -> int:
    rng = random.Random(seed)
    return sum(_check_parse(_wrap(rng, _number(rng))) for _ in range(n))


def _run_verdict_differential(seed: int, n: int) -> tuple[int, int]:
    """(pairs checked, pairs decided in plain Python) for ``n`` stress pairs."""
    rng = random.Random(seed)
    checked = decided = 0
    while checked < n:
        gold_text = _stress_number(rng)
        gold = _fast_math_number(gold_text)
        if gold is None:  # e.g. repr() chose scientific notation
            continue
        near = float(_to_sympy(gold)) if rng.random() < 0.7 else None
        predicted_text = _stress_number(rng, near)
        predicted = _fast_math_number(predicted_text)
        if predicted is None:
            continue
        checked += 1
        if not (gold.exact and predicted.exact) and _float_verdict(gold, predicted) is not None:
            decided += 1
        expected = _math_verify_verdict(gold, predicted)
        assert _numbers_equivalent(gold, predicted) == expected, (gold_text, predicted_text)
    return checked, decided


def _run_score_differential(seed: int, n: int) -> tuple[int, int, int]:
    """(pairs, pairs on the fast path, pairs scored 1) for ``n`` random pairs."""
    rng = random.Random(seed)
    fast = ones = 0
    for _ in range(n):
        predicted, gold = _pair(rng)
        fast += _fast_math_number(predicted) is not None and _fast_math_number(gold) is not None
        expected = _score_math_verify(predicted, gold)
        ones += expected == 1.0
        assert score_math(predicted, gold) == expected, (predicted, gold)
    return n, fast, ones


def _run_prose_differential(seed: int, n: int) -> tuple[int, int, int]:
    """(pairs, pairs decided by ``_verify_without_sympy``, pairs scored 1) for prose answers."""
    rng = random.Random(seed)
    golds = (_numeric_gold(rng) for _ in range(n))
    pairs = ((_prose(rng, gold), gold) for gold in golds)
    return differential(pairs, _parse_ground_truth, _verify_without_sympy)


# ----------------------------------------------------------------------------- parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", sympy.Integer(3)),
        ("-3.", sympy.Integer(-3)),
        ("3.0", sympy.Float("3.0")),
        ("0.5", sympy.Rational(1, 2)),  # Math-Verify rewrites a bare 0.5 as \frac{1}{2}
        (".5", sympy.Rational(1, 2)),
        ("$ 0.5 $", sympy.Rational(1, 2)),
        ("-0.5", -sympy.Float("0.5")),  # ... but not these
        ("+0.5", sympy.Float("0.5")),
        ("0.50", sympy.Float("0.50")),
        ("0.5.", sympy.Float("0.5")),
        ("1,000", sympy.Integer(1000)),
        ("-1,000.50", sympy.Float("-1000.50")),
        ("\\dfrac{4}{2}", sympy.Integer(2)),
        ("\\frac{-1}{-2}", sympy.Rational(1, 2)),
        ("-1/2", sympy.Rational(-1, 2)),
        ("\\boxed{-3}.", sympy.Integer(-3)),
        ("$\\boxed{7}$", sympy.Integer(7)),
        ("\\( 0.25 \\)", sympy.Float("0.25")),
    ],
)
def test_fast_parse_known_forms(text: str, expected: Any) -> None:
    number = _fast_math_number(text)
    assert number is not None
    assert sympy.srepr(_to_sympy(number)) == sympy.srepr(expected)
    assert _check_parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "50\\%",
        "50%",
        "30^\\circ",
        "3 cm",
        "1e-7",
        "2\\pi",
        "\\sqrt{2}",
        "x = 3",
        "(1, 2)",
        "{3}",
        "1,00",
        "+1,000",
        "012,345",  # Math-Verify reads this as 12.345
        "1,000.",
        "1/2.",  # Math-Verify reads this as 1
        "\\frac{1}{2}.",  # ... and this as text
        "$3.$",
        "+3.",
        "\\frac{1}{0}",
        "1/0",
        "\\frac{0.5}{2}",
        "- 3",
        "3 apples",
        "$3",
        "\\boxed{3}}",
        "3\n",
        "1" * 41,
        "",
    ],
)
def test_forms_outside_the_grammar_fall_back(text: str) -> None:
    assert _fast_math_number(text) is None


def test_parse_matches_math_verify() -> None:
    assert _run_parse_differential(seed=0, n=1_500) > 700


# ----------------------------------------------------------------------------- verdicts


def _key_as_sympy(key: tuple[Any, ...]) -> Any:
    """The sympy object a ``_rounded_key`` stands for."""
    if key[0] == "Integer":
        return sympy.Integer(int(key[1]))
    _, value, digits = key
    if value.denominator == 1:
        return sympy.Float(str(value.numerator), digits)
    return sympy.Float(sympy.Rational(value.numerator, value.denominator), digits)


def test_rounded_key_is_sympys_round() -> None:
    rng = random.Random(3)
    decided = 0
    for _ in range(600):
        number = _fast_math_number(_stress_number(rng))
        key = _rounded_key(number) if number is not None and number.double else None
        if number is None or key is None:
            continue
        decided += 1
        rounded = _to_sympy(number).round(6)
        assert sympy.srepr(_key_as_sympy(key)) == sympy.srepr(rounded), number
    assert decided > 200


@pytest.mark.parametrize(
    ("gold", "predicted", "expected"),
    [
        ("\\frac{1}{3}", "0.333333", True),  # rounded to 6 places
        ("\\frac{1}{3}", "0.3333333", True),
        ("\\frac{1}{3}", "0.33333", False),
        ("\\frac{2}{3}", "0.666667", True),
        ("\\frac{2}{3}", "0.666666", False),
        ("3", "3.0", True),  # exact difference zero
        ("3", "3.0000001", False),  # an Integer never equals a rounded Float
        ("2.9999999", "3.0000001", True),  # both round to the Float 3
        ("0.1", "0.100001", False),
        ("0.1", "0.1000001", True),
        ("1.5", "\\frac{3}{2}", True),
        ("-0.5", "-\\frac{1}{2}", True),
        ("0.5", "0.50", True),
        ("12.25", "12.3", False),
        ("0", "0.0", True),
        ("0", "-0.0000001", False),
        ("0.0", "0.0000001", True),
    ],
)
def test_verdicts_known_cases(gold: str, predicted: str, expected: bool) -> None:
    gold_number, predicted_number = _fast_math_number(gold), _fast_math_number(predicted)
    assert gold_number is not None and predicted_number is not None
    assert _math_verify_verdict(gold_number, predicted_number) == expected
    assert _numbers_equivalent(gold_number, predicted_number) == expected
    assert score_math(predicted, gold) == _score_math_verify(predicted, gold) == float(expected)


def test_verdicts_match_math_verify() -> None:
    checked, decided = _run_verdict_differential(seed=0, n=1_500)
    assert decided > checked // 3  # most float comparisons never reach sympy


# ----------------------------------------------------------------------------- scores


def test_scores_match_math_verify() -> None:
    n, fast, ones = _run_score_differential(seed=0, n=1_200)
    assert fast > n // 2 and ones > n // 5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_differential_more_seeds(seed: int) -> None:
    assert _run_parse_differential(seed=seed, n=4_000) > 2_000
    _run_verdict_differential(seed=seed, n=4_000)
    _run_score_differential(seed=seed, n=3_000)
    _run_prose_differential(seed=seed, n=2_000)


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("2", "x=2"),
        ("x = 2", "2"),
        ("50\\%", "0.5"),
        ("50", "50\\%"),
        ("30^\\circ", "30"),
        ("1e-7", "0.0000001"),
        ("\\frac{\\pi}{2}", "1.5707963"),
        ("1.414214", "\\sqrt{2}"),
        ("(1, 2)", "(1,2)"),
        ("I think it is seven", "7"),
        ("\\frac{3}{", "\\frac{3}{7}"),
        ("3 apples", "3"),
    ],
)
def test_fallback_forms_score_as_math_verify(predicted: str, gold: str) -> None:
    assert score_math(predicted, gold) == _score_math_verify(predicted, gold)


# ----------------------------------------------------------------------------- prose answers


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ("I think it is seven", "7", False),  # E**2*I*h*i**3*...: a product of symbols
        ("seven", "7", False),
        ("\\text{seven}", "7", False),
        ("\\text{7}", "7", True),  # Symbol('7') prints as the gold does
        ("\\text{1/2}", "0.5", True),  # the gold parses to Rational(1, 2)
        ("\\text{0.5}", "0.5", False),
        ("\\text{-1}", "-1", True),
        ("a", "7", False),
        ("\\alpha", "7", False),
        ("7x", "7", False),
        ("x7", "7", False),
        ("x^{-1}", "1", False),
        ("\\sqrt{x}", "0", False),
        ("i^2", "-1", False),  # Symbol('i', real=False) squared, not I**2
    ],
)
def test_prose_known_cases(predicted: str, gold: str, expected: bool) -> None:
    gold_parsed, predicted_parsed = _math_parse(gold, None), _math_parse(predicted, None)
    assert _verify_without_sympy(gold_parsed, predicted_parsed) is expected
    assert score_math(predicted, gold) == _score_math_verify(predicted, gold) == float(expected)


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("0x", "0"),  # 0*x, unevaluated: Math-Verify finds it equal to 0
        ("x^0", "1"),  # x**0, unevaluated: equal to 1
        ("x/x", "1"),
        ("\\frac{x}{x}", "1"),
        ("I^2", "-1"),  # the imaginary unit
        ("x=7", "7"),
        ("7\\%", "7"),
        ("7 cm", "7"),
        ("\\pi", "3.14"),
        ("x + 1", "1"),
    ],
)
def test_prose_shortcut_leaves_other_shapes_to_math_verify(predicted: str, gold: str) -> None:
    gold_parsed, predicted_parsed = _math_parse(gold, None), _math_parse(predicted, None)
    assert _verify_without_sympy(gold_parsed, predicted_parsed) is None
    assert score_math(predicted, gold) == _score_math_verify(predicted, gold)


def test_string_alternatives_compare_stripped() -> None:
    assert _verify_without_sympy([sympy.Integer(7), "7"], ["\\frac{3}{"]) is False
    assert _verify_without_sympy([sympy.Integer(7), " 7"], ["7 "]) is True
    assert _verify_without_sympy(["  "], ["  "]) is False  # empty strings never match


def test_prose_scores_match_math_verify() -> None:
    n, decided, ones = _run_prose_differential(seed=0, n=600)
    assert decided > n // 3 and ones > 0


# ----------------------------------------------------------------------------- caches


def test_ground_truth_is_parsed_once_per_group() -> None:
    info: Callable[[], Any] = rewards._parse_ground_truth.cache_info
    group = ["x = 3", "3", "x=3", "27x = 81"]  # symbolic: the slow path
    for answer in group:
        assert score_math(answer, "x = 3") == _score_math_verify(answer, "x = 3")
    assert info().misses == 1 and info().hits == len(group) - 1
    before = rewards._score_math_cached.cache_info().hits
    assert score_math("x=3", "x = 3") == 1.0  # remembered
    assert rewards._score_math_cached.cache_info().hits == before + 1
    clear_math_caches()
    assert info().currsize == 0 and rewards._score_math_cached.cache_info().currsize == 0


def test_fast_path_off_the_main_thread() -> None:
    results: list[float | None] = []

    def work() -> None:
        results.extend(score("math", f"<answer>{p}</answer>", g) for p, g in [("0.5", "1/2")])
        results.append(score_math("x=3", "3"))  # the slow path, without SIGALRM

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert results == [1.0, 1.0]


def test_fast_grammar_is_cheap_on_huge_answers() -> None:
    start = time.perf_counter()
    for huge in ["1" * 1_999, "1," * 999, "$" * 1_999, "\\boxed{" * 250, "-" * 1_999]:
        assert _fast_math_number(huge) is None
    assert time.perf_counter() - start < 0.1
    assert score_math("1" * 2_001, "1") == 0.0  # over MAX_MATH_ANSWER_CHARS
