"""Plain-text math ground truths (the release's Math PUMA forms) and the ``math`` reward.

The release writes ``2 * sin(x) + 1``, ``exp(-x)``, ``x**2``, ``sqrt(3)``, ``log(x)``, ``pi``
and ``1 000``; inside ``$...$`` Math-Verify read those as products of letters, as text, or as
``1*000``. ``normalise_math_answer`` rewrites them as LaTeX (issue 14): a correct LaTeX answer
now scores 1 and a wrong one 0, on the ground truth as released (the reward's defensive pass)
and as imported (already rewritten).
"""

from __future__ import annotations

import pytest

from vlaa.rewards import _score_math_verify, clear_math_caches, score, score_math
from vlaa.rewards.math_normalise import normalise_math_answer

pytestmark = pytest.mark.usefixtures("quiet_cold_math")


# (ground truth as released, its LaTeX form, a correct LaTeX answer, a wrong LaTeX answer)
RELEASE_FORMS = [
    ("2 * sin(x) + 1", "2 \\cdot \\sin(x) + 1", "2\\sin(x)+1", "2\\sin(x)+2"),
    ("y = -5 * sin(-5 * x)", "y = -5 \\cdot \\sin(-5 \\cdot x)", "y=-5\\sin(-5x)", "y=5\\sin(-5x)"),
    ("tan(x)", "\\tan(x)", "\\tan x", "\\cot(x)"),
    ("y = 3 * cos(2 * x + pi/3)", "y = 3 \\cdot \\cos(2 \\cdot x + \\pi / 3)", None, None),
    ("exp(-x)", "e^{-x}", "e^{-x}", "e^{x}"),
    ("y = -2 * exp(-0.5 * x)", "y = -2 \\cdot e^{-0.5 \\cdot x}", "y=-2e^{-x/2}", "y=-2e^{-2x}"),
    ("log(x)", "\\ln(x)", "\\ln x", "\\log_{2}(x)"),
    ("y = 2 * log(3 * x + 1)", "y = 2 \\cdot \\ln(3 \\cdot x + 1)", "y=2\\ln(3x+1)", "y=2\\ln(3x)"),
    ("log(x, 2)", "\\log_{2}(x)", "\\log_2 x", "\\ln(x)"),
    ("sqrt(3)", "\\sqrt{3}", "\\sqrt{3}", "\\sqrt{2}"),
    ("x**2", "x^{2}", "x^2", "2x"),
    ("2**3", "2^{3}", "8", "2"),
    ("y = 2*x**2 - 3*x + 1", "y = 2 \\cdot x^{2} - 3 \\cdot x + 1", "y=2x^2-3x+1", "y=2x^2+3x+1"),
    ("sin(x)**2", "(\\sin(x))^{2}", "\\sin^2(x)", "\\sin(x^2)"),
    ("(x + 1)**(1/2)", "(x + 1)^{1 / 2}", "\\sqrt{x+1}", "x+1"),
    ("abs(x - 1)", "\\left|x - 1\\right|", "|x-1|", "x-1"),
    ("2*pi", "2 \\cdot \\pi", "2\\pi", "\\pi"),
    ("pi", "\\pi", "\\pi", "3"),
    ("1 000", "1000", "1000", "0"),
    ("12 345.5", "12345.5", "12345.5", "4146"),
    ("1,000", "1000", "1000", "1"),
    ("-1,000.25", "-1000.25", "-1000.25", "1000.25"),
]


@pytest.mark.parametrize(("released", "latex", "right", "wrong"), RELEASE_FORMS)
def test_release_forms_become_latex(released: str, latex: str, right: str, wrong: str) -> None:
    assert normalise_math_answer(released) == latex
    assert normalise_math_answer(latex) == latex  # idempotent: import, then the reward


@pytest.mark.parametrize(
    ("released", "latex", "right", "wrong"), [f for f in RELEASE_FORMS if f[2] is not None]
)
def test_a_right_latex_answer_scores_1_and_a_wrong_one_0(
    released: str, latex: str, right: str, wrong: str
) -> None:
    for gold in (released, latex):  # as released (old records) and as imported
        assert score("math", f"<think>...</think><answer>{right}</answer>", gold) == 1.0
        assert score("math", f"<think>...</think><answer>{wrong}</answer>", gold) == 0.0
        assert score_math(right, gold) == 1.0 and score_math(wrong, gold) == 0.0


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("2\\sin(x)+1", "2 * sin(x) + 1"),  # LaTeX read sin as s*i*n
        ("\\tan(x)", "tan(x)"),
        ("e^{-x}", "exp(-x)"),
        ("\\ln(x)", "log(x)"),
        ("x^2", "x**2"),  # x**2 parsed to a string only
        ("1000", "1 000"),
        ("12345.5", "12 345.5"),
    ],
)
def test_right_answers_that_used_to_score_0(predicted: str, gold: str) -> None:
    assert _score_math_verify(predicted, gold) == 0.0  # plain Math-Verify on $gold$
    assert score_math(predicted, gold) == 1.0


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("0", "1 000"),  # $1 000$ was 1*000 = 0
        ("4146", "12 345.5"),  # $12 345.5$ was 12*345.5
        ("2", "2**3"),  # $2**3$ was 2
    ],
)
def test_wrong_answers_that_used_to_score_1(predicted: str, gold: str) -> None:
    assert _score_math_verify(predicted, gold) == 1.0
    assert score_math(predicted, gold) == 0.0


def test_plain_text_answers_still_match_plain_text_ground_truths() -> None:
    # Both sides are rewritten, so a policy copying the release's notation is not penalised.
    assert score_math("2*sin(x) + 1", "2 * sin(x) + 1") == 1.0
    assert score_math("y = -5*sin(-5*x)", "y = -5 \\cdot \\sin(-5 \\cdot x)") == 1.0
    assert score_math("cos(x)", "2 * sin(x) + 1") == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "the answer is pi",  # prose: any unknown word leaves the text alone
        "I think it is seven",
        "x + 1",  # nothing Math-Verify misreads
        "y = 2x + 1",
        "a = -5",
        "x^2",
        "e^x",
        "sin",  # a bare name, no call
        "sin x",
        "3",
        "0.5",
        "1,22",  # not thousands groups
        "0,111",
        "1 00",
        "+1,000",
        "2 \\sin(x)",  # LaTeX
        "$x**2$",
        "\\frac{1}{2}",
        "{1, 2}",
        "sin(x",  # malformed
        "x)",
        "x**",
        "",
        "   ",
    ],
)
def test_other_text_is_left_as_written(text: str) -> None:
    assert normalise_math_answer(text) is text


def test_normalised_answers_are_cached_and_cleared_with_the_math_caches() -> None:
    normalise_math_answer("2 * sin(x) + 1")
    normalise_math_answer("2 * sin(x) + 1")
    info = normalise_math_answer.cache_info()
    assert info.hits >= 1 and info.currsize >= 1
    clear_math_caches()
    assert normalise_math_answer.cache_info().currsize == 0


def test_deep_nesting_is_left_as_written_not_a_crash() -> None:
    deep = "(" * 600 + "x**2" + ")" * 600  # under the 2,000-character cap
    assert normalise_math_answer(deep) is deep
    assert score_math(deep, "x**2") in (0.0, 1.0)
