"""``verify_shortcut`` and ``parse_plain`` against plain Math-Verify (differential tests).

``score_math`` decides equal objects, constants clearly apart, a constant against prose and
linear equations without sympy's simplify or solve (``vlaa.rewards.math_shortcuts``). Seeded
random pairs built around those shapes and their edges (equal values written differently,
close values, sides swapped, other variables, e, i, floats, percent, chains, intervals) must
get exactly Math-Verify's verdict, both from the shortcut where it decides and from
``score_math``. Plain intervals and equations skip Math-Verify's parser
(``vlaa.rewards.math_plain_parse``); seeded random texts in and around that grammar must parse
to exactly Math-Verify's result.
"""

from __future__ import annotations

import random

import pytest
import sympy
from math_differential import differential
from math_verify import verify

from vlaa.rewards import _math_parse, _score_math_verify, score_math
from vlaa.rewards.math_plain_parse import parse_plain
from vlaa.rewards.math_shortcuts import verify_shortcut

pytestmark = pytest.mark.usefixtures("quiet_cold_math")


_VARIABLES = ("x", "x", "x", "y", "t", "X", "e", "i", "x_1", "\\alpha")


def _coefficient(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return f"\\frac{{{rng.randint(1, 9)}}}{{{rng.randint(2, 9)}}}"
    if kind == 1:
        return f"{rng.randint(0, 9)}.{rng.randint(0, 9)}"
    if kind == 2:
        return rng.choice(["-", "", "0", "1"])
    return str(rng.randint(1, 12))


def _equation(rng: random.Random, a: int, b: int) -> str:
    """A linear equation, mostly in x, often with the solution a, in many written forms."""
    v = rng.choice(_VARIABLES)
    c = _coefficient(rng)
    value = rng.choice([a, a, a + 1, -a, b])
    forms = [
        f"{v} = {value}",
        f"{v}={value}",
        f"{value} = {v}",
        f"{b}{v} = {a * b}",
        f"{c}{v} = {value}",
        f"{v} + {b} = {value + b}",
        f"{b}{v} - {a * b} = 0",
        f"{a * b} = {b}{v}",
        f"-{v} = {-value}",
        f"\\frac{{{v}}}{{{b}}} = {value}",
        f"2{v} = {v} + {value}",
        f"{v} = {value} = {value}",
        f"{v} = \\frac{{{value}}}{{{b}}}",
        f"{v} = {value}.0",
        f"{v} = {a}\\sqrt{{{b}}}",
        f"{v}^2 = {value * value}",
        f"{v} = y",
        f"{v} y = {value}",
        f"{value}",
        f"{value}.0",
    ]
    return rng.choice(forms)


def _constant(rng: random.Random, a: int, b: int) -> str:
    """A real constant near ``a\\sqrt{b}`` or ``a\\pi``, exact, rounded or clearly apart."""
    forms = [
        f"{a}\\sqrt{{{b}}}",
        f"{a} \\cdot \\sqrt{{{b}}}",
        f"\\sqrt{{{a * a * b}}}",
        f"\\sqrt{{{b}}}{a}",
        f"{a}\\pi",
        f"\\pi {a}",
        f"{a + 1}\\sqrt{{{b}}}",
        f"{a}\\sqrt{{{b + 1}}}",
        f"{a * b**0.5:.6f}",
        f"{a * b**0.5:.3f}",
        f"{a * 3.141592653589793:.6f}",
        f"\\frac{{{a}\\sqrt{{{b}}}}}{{2}}",
        f"\\frac{{\\sqrt{{{b}}}}}{{{a}}}",
        f"{a}^{{\\frac{{1}}{{3}}}}",
        f"e^{{{a}}}",
        f"\\pi^2 + {a}",
        f"{a} + \\sqrt{{{b}}}",
        f"\\sqrt{{-{b}}}",
        f"{a}\\%",
        f"{a * b}",
        f"\\frac{{{a}}}{{{b}}}",
        "0",
        "e",
        "\\infty",
        f"10^{{-{a + 8}}}",
        f"({a}, {a + b})",
        f"[{a}, {a + b}]",
        f"{a} < x < {a + b}",
        f"\\{{{a}, {b}\\}}",
    ]
    return rng.choice(forms)


def _prose(rng: random.Random, a: int) -> str:
    return rng.choice(
        [
            "I think it is seven",
            "the answer is pi",
            f"\\text{{{a}}}",
            f"{a}x",
            "x",
            "e",
            "x^2 y",
            "x/x",
            "0x",
            f"{a} cm",
            "\\frac{3}{",
            "ee",
        ]
    )


def _plain(rng: random.Random) -> str:
    """An interval or equation in (or just outside) the plain grammar."""
    a = rng.choice([0, 1, 3, 12, 99, -1, -7, 10**15, 10**16])
    b = a + rng.choice([1, 5, 0, -2, 100])
    space = rng.choice(["", " ", "  "])
    if rng.random() < 0.5:
        left, right = rng.choice("(["), rng.choice(")]")
        text = f"{left}{space}{a},{space}{b}{right}"
        text = rng.choice([text, text, f" {text} ", text.replace(str(a), f"0{a}", 1)])
        return rng.choice([text, text, text, f"\\left{text}", f"({a}, {b}", f"({a}.5, {b})"])
    k = rng.choice(["", "", "2", "6", "1", "0", "07", "-3"])
    v = rng.choice("xyztnabkEIeiX")
    n = rng.choice([str(a), str(b), f"-{a}", f"+{a}", f"0{a}", "-0", f"{a}.5"])
    return rng.choice([f"{k}{v}{space}={space}{n}", f"{k}{v}={n}", f" {v} = {n} ", f"{v} = {n}."])


def _answer(rng: random.Random, a: int, b: int, kind: int) -> str:
    if kind < 2:
        return _equation(rng, a, b)
    if kind < 4:
        return _constant(rng, a, b)
    if kind < 5:
        return _plain(rng)
    return _prose(rng, a)


def _run_parse_differential(seed: int, n: int) -> int:
    """Texts that ``parse_plain`` parsed, each checked against Math-Verify's parse."""
    rng = random.Random(seed)
    parsed = 0
    for _ in range(n):
        text = _plain(rng)
        ours = parse_plain(text)
        if ours is None:
            continue
        parsed += 1
        theirs = _math_parse(text, None)
        assert len(theirs) == 2 and theirs[1] == ours[1], (text, theirs, ours)
        assert theirs[0] == ours[0] and sympy.srepr(theirs[0]) == sympy.srepr(ours[0]), text
    return parsed


def _run_differential(seed: int, n: int) -> tuple[int, int, int]:
    """(pairs, pairs the shortcut decided, pairs scored 1) for ``n`` random pairs."""
    rng = random.Random(seed)
    return differential((_random_pair(rng) for _ in range(n)), _math_parse, verify_shortcut)


def _random_pair(rng: random.Random) -> tuple[str, str]:
    """(prediction, gold): the answer is mostly of the gold's kind, as in a group."""
    a, b = rng.randint(1, 9), rng.randint(2, 12)
    kind = rng.randrange(6)
    gold = _answer(rng, a, b, kind)
    predicted = _answer(rng, a, b, kind if rng.random() < 0.7 else rng.randrange(6))
    return predicted, gold


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ("x=3", "x = 3", True),
        ("3 = x", "x = 3", True),  # lhs - rhs flipped
        ("x + 1 = 4", "x = 3", True),  # the same lhs - rhs
        ("-x = 3", "x=-3", True),
        ("6x = 18", "x = 3", False),  # Math-Verify's verdict: solve's result is not compared
        ("x = 4", "x = 3", False),
        ("y = 3", "x = 3", False),
        ("3", "x = 3", True),  # an assignment gold is unwrapped
        ("x = 3", "3", True),  # an equation answer is unwrapped
        ("4", "x = 3", False),
        ("I think it is seven", "x = 7", False),
        ("3\\pi", "3\\sqrt{5}", False),
        ("5", "3\\sqrt{5}", False),
        ("6.8", "3\\sqrt{5}", False),
        ("I think it is seven", "3\\sqrt{5}", False),
        ("3 \\cdot \\sqrt{5}", "3\\sqrt{5}", True),  # the same object
    ],
)
def test_known_cases(predicted: str, gold: str, expected: bool) -> None:
    gold_parsed, predicted_parsed = _math_parse(gold, None), _math_parse(predicted, None)
    assert verify_shortcut(gold_parsed, predicted_parsed) is expected
    assert verify(gold_parsed, predicted_parsed, timeout_seconds=None) is expected
    assert score_math(predicted, gold) == _score_math_verify(predicted, gold) == float(expected)


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("\\sqrt{45}", "3\\sqrt{5}"),  # equal values written differently: Math-Verify decides
        ("6.708204", "3\\sqrt{5}"),  # close values: rounding decides
        ("x = 0", "2x = 0"),  # lhs - rhs is a lone Symbol: compared by name
        ("x = 3.0", "x = 3"),  # float coefficients
        ("x^2 = 9", "x = 3"),  # not linear
        ("x", "3\\sqrt{5}"),  # a bare Symbol against a constant
        ("10^{-12} x", "10^{-9}"),  # a gold this small might be chopped
        ("2x = 6", "1 < x < 5"),  # inequalities
    ],
)
def test_other_shapes_go_to_math_verify(predicted: str, gold: str) -> None:
    gold_parsed, predicted_parsed = _math_parse(gold, None), _math_parse(predicted, None)
    assert verify_shortcut(gold_parsed, predicted_parsed) is None
    assert score_math(predicted, gold) == _score_math_verify(predicted, gold)


def test_plain_parse_matches_math_verify() -> None:
    assert _run_parse_differential(seed=0, n=300) > 40


@pytest.mark.parametrize(
    "text",
    ["(5, 3)", "(3, 3)", "[3, 3]", "(1.5, 2)", "1x = 3", "e = 3", "i = 3", "X = 3", "x = 3."],
)
def test_plain_parse_leaves_other_forms_to_math_verify(text: str) -> None:
    assert parse_plain(text) is None


def test_string_alternatives() -> None:
    assert verify_shortcut(["  "], ["  "]) is False  # empty strings never match
    assert verify_shortcut([" 7"], ["7 "]) is True
    assert verify_shortcut(["\\frac{3}{"], _math_parse("7", None)) is False


def test_scores_match_math_verify() -> None:
    n, decided, ones = _run_differential(seed=0, n=500)
    assert decided > n // 3 and ones > n // 20


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_differential_more_seeds(seed: int) -> None:
    n, decided, ones = _run_differential(seed=seed, n=1_500)
    assert decided > n // 3 and ones > 0
    assert _run_parse_differential(seed=seed, n=1_000) > 120
