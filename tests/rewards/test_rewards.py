"""The mixed reward: extraction, every rule, and completions written to game it."""

from __future__ import annotations

import math
import threading
import time

import pytest

from vlaa.rewards import (
    box_iou,
    extract_answer,
    normalize_mcq,
    open_reward,
    parse_box,
    parse_number,
    score,
)


def wrap(answer: str, thinking: str = "Let me look at the image.") -> str:
    return f"<think>{thinking}</think><answer>{answer}</answer>"


# ----------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("<think>r</think><answer> 5 </answer>", "5"),
        ("<answer>5</answer>", "5"),
        ("<answer>1</answer> text <answer>2</answer>", "2"),  # the last complete tag wins
        ("<answer>1</answer><answer>2", "1"),  # an unclosed later tag does not count
        ("<answer>a<answer>b</answer>", "b"),  # the innermost opening pairs with the close
        ("<answer></answer>", ""),
        ("<answer>   \n </answer>", ""),
        ("<answer>5", None),
        ("5</answer>", None),
        ("no tags at all", None),
        ("", None),
        # Thinking is never scored.
        ("<think><answer>3</answer></think>", None),
        ("<think><answer>3</answer></think><answer>4</answer>", "4"),
        ("<think>a</think><answer>1</answer><think>b <answer>9</answer>", "1"),
        ("<think>unclosed <answer>3</answer>", None),
        ("<answer>7</answer><think>unclosed <answer>3</answer>", "7"),
        # A stray </think> closes a think pre-filled by the prompt: what precedes it is thought.
        ("reasoning <answer>3</answer></think><answer>4</answer>", "4"),
        ("reasoning <answer>3</answer></think>", None),
        # Tag fragments on both sides of a think block do not join into a tag.
        ("<ans<think>x</think>wer>5</answer>", None),
    ],
)
def test_extract_answer(completion: str, expected: str | None) -> None:
    assert extract_answer(completion) == expected


def test_extract_answer_is_linear_on_huge_outputs() -> None:
    mb = 1_000_000
    adversarial = [
        "<think>" + "wait " * (mb // 5) + "</think><answer>7</answer>",
        "<answer>" * (mb // 8),
        "</answer>" * (mb // 9),
        "<think>" * (mb // 7),
        "</think>" * (mb // 8) + "<answer>7</answer>",
        "<think></think>" * (mb // 15) + "<answer>7</answer>",
        "<answer>" + "x" * mb,
        "[1" * (mb // 2),
    ]
    start = time.perf_counter()
    results = [extract_answer(text) for text in adversarial]
    for text in adversarial:
        score("iou", text, [0.0, 0.0, 1.0, 1.0])
        score("digit", text, "7")
        score("mcq", text, "A")
        score("math", text, "7")
    assert time.perf_counter() - start < 10
    assert results[0] == "7" and results[4] == "7" and results[5] == "7"
    assert results[1] is None and results[6] is None


def test_huge_answer_inside_tags_scores_zero_quickly() -> None:
    completion = "<answer>" + "1" * 1_000_000 + "</answer>"
    start = time.perf_counter()
    assert score("digit", completion, "1") == 0.0
    assert score("math", completion, "1") == 0.0
    assert score("mcq", completion, "A") == 0.0
    assert time.perf_counter() - start < 5


# ----------------------------------------------------------------------------- format rule


@pytest.mark.parametrize("reward_type", ["digit", "mcq", "math", "iou"])
@pytest.mark.parametrize(
    "completion",
    [
        "5",  # no tags
        "<think><answer>5</answer></think>",  # answer only inside think
        "<answer></answer>",  # empty
        "<answer>5",  # unbalanced
        "<think>5</think>",
    ],
)
def test_no_extractable_answer_scores_zero(reward_type: str, completion: str) -> None:
    answer: object = [0.0, 0.0, 1.0, 1.0] if reward_type == "iou" else "5"
    assert score(reward_type, completion, answer) == 0.0


def test_thinking_text_is_never_rewarded() -> None:
    # The right answer stated in the thinking does not rescue a wrong final answer.
    assert score("digit", wrap("4", thinking="<answer>5</answer> it is 5"), "5") == 0.0
    assert score("digit", wrap("5", thinking="it is 4 <answer>4</answer>"), "5") == 1.0


def test_unknown_reward_type_names_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'caption'.*digit, mcq, math, iou, open"):
        score("caption", wrap("5"), "5")


# ----------------------------------------------------------------------------- digit


@pytest.mark.parametrize(
    ("predicted", "truth", "expected"),
    [
        ("3", "3", 1.0),
        (" 3 ", "3", 1.0),
        ("3.", "3", 1.0),
        ("3.0", "3", 1.0),
        ("3", "3.0", 1.0),
        ("1,000", "1000", 1.0),
        ("1000", "1,000", 1.0),
        ("-2", "-2", 1.0),
        ("4", "3", 0.0),
        ("3.5", "3", 0.0),
        ("three", "3", 0.0),
        ("3 apples", "3", 0.0),
        ("1,00", "100", 0.0),  # not a thousands grouping
        ("3", "three", 0.0),  # a non-numeric ground truth can never match
        ("nan", "nan", 0.0),
        ("inf", "inf", 0.0),
    ],
)
def test_digit(predicted: str, truth: str, expected: float) -> None:
    assert score("digit", wrap(predicted), truth) == expected


def test_digit_accepts_numeric_ground_truth() -> None:
    assert score("digit", wrap("4"), 4) == 1.0
    assert parse_number("1,234,567.50") == parse_number("1234567.5")


# ----------------------------------------------------------------------------- mcq


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("A", "A"),
        ("a", "A"),
        ("A)", "A"),
        ("(a)", "A"),
        ("[c]", "C"),
        ("A.", "A"),
        ("A. 60°", "A"),
        ("(B) 60°", "B"),
        ("B: the cube", "B"),
        ("C 12 cm", "C"),
        ("Option D", "D"),
        ("The answer is (E)", "E"),
        ("B, 12 cm", "B"),  # label, comma, the option's value
        ("C:45°", "C"),  # label glued to its value
        ("D; x = 3", "D"),
        ("Answer: B, 60°", "B"),
        ("A, C", None),  # a list of labels names no single option
        ("A, B, C, D", None),
        ("A,C", None),
        ("a cat", None),  # an article, not an option
        ("60°", None),
        ("", None),
    ],
)
def test_normalize_mcq(text: str, letter: str | None) -> None:
    assert normalize_mcq(text) == letter


@pytest.mark.parametrize(
    ("predicted", "truth", "expected"),
    [
        ("A", "A", 1.0),
        ("(a)", "A", 1.0),
        ("A)", "(A)", 1.0),
        ("(B) 60°", "B", 1.0),
        ("B. 60°", "(B) 60°", 1.0),
        ("B", "A", 0.0),
        ("60°", "B", 0.0),
        ("60°", "60°", 1.0),  # no letter on either side: normalised text equality
        ("AB", "A", 0.0),
        ("B, 12 cm", "B", 1.0),
        ("C:45°", "C", 1.0),
        ("A, B, C, D", "A", 0.0),  # hedging over every option earns nothing
    ],
)
def test_mcq(predicted: str, truth: str, expected: float) -> None:
    assert score("mcq", wrap(predicted), truth) == expected


# ----------------------------------------------------------------------------- math


@pytest.mark.parametrize(
    ("predicted", "truth", "expected"),
    [
        ("0.5", "\\frac{1}{2}", 1.0),
        ("\\frac{1}{2}", "0.5", 1.0),
        ("3/4", "$\\frac{3}{4}$", 1.0),
        ("2", "x=2", 1.0),
        ("x=2", "2", 1.0),
        ("1+2x", "2x+1", 1.0),
        ("\\frac{\\pi}{2}", "\\frac{\\pi}{2}", 1.0),
        ("$\\boxed{3}$", "3", 1.0),
        # Plain numbers take the exact fast path; Math-Verify's semantics are kept.
        ("3.0", "3", 1.0),
        ("1,000", "1000", 1.0),
        ("\\boxed{0.5}", "\\frac{1}{2}", 1.0),
        ("0.333333", "\\frac{1}{3}", 1.0),  # rounded to 6 places
        ("0.33333", "\\frac{1}{3}", 0.0),
        ("-\\dfrac{6}{4}", "-1.5", 1.0),
        ("3.0000001", "3", 0.0),  # an integer ground truth needs an exact match
        ("50\\%", "0.5", 1.0),  # percent goes to Math-Verify, which reads it as 0.5
        ("3", "4", 0.0),
        ("1.414", "\\sqrt{2}", 0.0),
        ("hello", "5", 0.0),
        ("\\frac{", "3", 0.0),  # malformed LaTeX scores 0, never raises
        ("}{)(", "3", 0.0),
    ],
)
def test_math(predicted: str, truth: str, expected: float) -> None:
    assert score("math", wrap(predicted), truth) == expected


def test_math_works_off_the_main_thread() -> None:
    # Math-Verify's own timeout needs SIGALRM, which only the main thread may use.
    results: list[float | None] = []
    worker = threading.Thread(target=lambda: results.append(score("math", wrap("1/2"), "0.5")))
    worker.start()
    worker.join()
    assert results == [1.0]


# ----------------------------------------------------------------------------- iou


def test_iou_values() -> None:
    truth = [0.0, 0.0, 0.5, 0.5]
    assert score("iou", wrap("[0.0, 0.0, 0.5, 0.5]"), truth) == pytest.approx(1.0)
    assert score("iou", wrap("[0.25, 0.0, 0.75, 0.5]"), truth) == pytest.approx(1 / 3)
    assert score("iou", wrap("[0.6, 0.6, 0.9, 0.9]"), truth) == 0.0
    assert score("iou", wrap("The box is [0,0,.5,5e-1]."), truth) == pytest.approx(1.0)
    assert score("iou", wrap("[0.000, 0.000, 0.500, 0.500]"), "[0, 0, 0.5, 0.5]") == 1.0


@pytest.mark.parametrize(
    "predicted",
    [
        "[0.1, 0.1, 0.1, 0.5]",  # zero width
        "[0.5, 0.5, 0.1, 0.1]",  # corners swapped
        "[0.1, 0.2, 0.3]",
        "0.1, 0.1, 0.4, 0.4",
        "[a, b, c, d]",
        "[1e999, 0, 2e999, 1]",
    ],
)
def test_iou_malformed_or_degenerate_prediction_scores_zero(predicted: str) -> None:
    assert score("iou", wrap(predicted), [0.0, 0.0, 1.0, 1.0]) == 0.0


def test_iou_malformed_ground_truth_scores_zero() -> None:
    assert score("iou", wrap("[0, 0, 1, 1]"), [0.0, 0.0, 0.0, 1.0]) == 0.0
    assert score("iou", wrap("[0, 0, 1, 1]"), [0.0, 1.0]) == 0.0
    assert score("iou", wrap("[0, 0, 1, 1]"), "no box") == 0.0


def test_iou_helpers() -> None:
    assert parse_box("x [0.1,0.2,0.3,0.4] y [0,0,1,1]") == (0.1, 0.2, 0.3, 0.4)  # first box
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)


# ----------------------------------------------------------------------------- open


def length_scorer(image: object, question: str, answer_text: str) -> float:
    return float(len(answer_text))


def test_open_without_scorer_is_skipped() -> None:
    assert score("open", wrap("a dog"), "a cat") is None
    assert score("open", "no tags", "a cat") is None


def test_open_formula() -> None:
    # S(y_hat) = 9, S(y) = 5: R = 1 - exp(-4 * beta).
    reward = score("open", wrap("a big dog"), "a cat", scorer=length_scorer, beta=0.5)
    assert reward == pytest.approx(1 - math.exp(-2.0))
    assert score("open", wrap("a dog"), "a cat", scorer=length_scorer) == 0.0  # equal
    assert score("open", wrap("dog"), "a cat", scorer=length_scorer) == 0.0  # worse
    assert open_reward(float("nan"), 0.0, 1.0) == 0.0


def test_open_passes_context_to_the_scorer() -> None:
    calls: list[tuple[object, str, str]] = []

    def recording_scorer(image: object, question: str, answer_text: str) -> float:
        calls.append((image, question, answer_text))
        return 1.0

    image = object()
    score("open", wrap("yes"), "no", scorer=recording_scorer, image=image, question="Q?")
    assert calls == [(image, "Q?", "yes"), (image, "Q?", "no")]


def test_open_format_rule_and_bad_beta() -> None:
    assert score("open", "no tags", "a cat", scorer=length_scorer) == 0.0
    assert score("open", wrap(""), "a cat", scorer=length_scorer) == 0.0
    with pytest.raises(ValueError, match="beta"):
        score("open", wrap("a big dog"), "a cat", scorer=length_scorer, beta=0.0)


def test_rule_types_ignore_model_context() -> None:
    context = {"scorer": length_scorer, "image": None, "question": "How many?", "beta": 2.0}
    assert score("digit", wrap("3"), "3", **context) == 1.0


@pytest.mark.parametrize(
    ("reward_type", "answer"),
    [("digit", "3"), ("mcq", "A"), ("math", "3"), ("iou", [0.0, 0.0, 0.5, 0.5])],
)
def test_scores_are_in_unit_interval(reward_type: str, answer: object) -> None:
    for predicted in ["3", "A", "[0.1, 0.1, 0.4, 0.6]", "junk", ""]:
        value = score(reward_type, wrap(predicted), answer)
        assert value is not None and 0.0 <= value <= 1.0
