"""Math-Verify's own test cases scored by the project's ``math`` reward (differential test).

``data/math_verify_cases.json`` holds the (gold, pred, expected) rows of the parametrized tests
in Math-Verify's ``tests/`` folder (github.com/huggingface/Math-Verify at commit 5d148cf:
test_all.py, test_boxed.py, test_numina_cases.py, test_open_thoughts.py, test_strict.py,
test_yujianll.py), with the options each test gives Math-Verify. Each prediction is scored as a
policy's completion is: ``<think>...</think><answer>PRED</answer>`` through ``vlaa.rewards.score``,
the gold being the record's ground truth. The reward always uses Math-Verify's default
extraction (LaTeX and plain expressions), 6-place float rounding, strict comparison and a
2,000-character answer cap, so some rows written for other options disagree; every one of them
is listed in ``DISAGREEMENTS`` with the reason, and any other outcome fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlaa.rewards import MAX_MATH_ANSWER_CHARS, extract_answer, score

CASES_FILE = Path(__file__).parent / "data" / "math_verify_cases.json"

_OVER_CAP = "the prediction is longer than the reward's 2,000-character answer cap: scores 0"
_EXPR_ONLY = "the test reads the text with ExprExtractionConfig only"
# Row id -> why the reward's verdict differs from the test's expected one.
DISAGREEMENTS: dict[str, str] = {
    "test_all::test_number_extraction[5]": (
        f"{_EXPR_ONLY}, where '1000,99' is a decimal comma; in the reward's $...$ it is a list"
    ),
    "test_all::test_number_extraction[6]": (
        f"{_EXPR_ONLY}, where the gold '1,22' is a decimal comma; in $...$ it is a list"
    ),
    "test_all::test_latex_notation[5]": (
        "the test uses LaTeX extraction only (an inline $ across lines is no match); the "
        "reward's default extraction also reads plain expressions and finds the 9"
    ),
    "test_all::test_latex_notation[6]": (
        "the test uses LaTeX extraction only (an inline \\( across lines is no match); the "
        "reward's default extraction also reads plain expressions and finds the 9"
    ),
    "test_all::test_latex_notation_math[3]": _OVER_CAP,
    "test_all::test_math_extraction_edge_cases[13]": _OVER_CAP,
    "test_all::test_matrix_extraction[0]": (
        "the prediction contains '</think>': by the project's format everything before it, "
        "the <answer> tag included, is thinking, so there is no answer to score"
    ),
    "test_all::test_complex_math_expressions[7]": (
        "the test rounds floats to 2 places (0.33 = 1/3); the reward rounds to 6"
    ),
    "test_all::test_complex_math_expressions[13]": (
        "the test rounds floats to 2 places (2.6667 = 8/3); the reward rounds to 6"
    ),
    "test_all::test_set_rel_assymetry[2]": (
        "the test passes allow_set_relation_comp=True (an interval equals an inequality); "
        "the reward keeps Math-Verify's default, False"
    ),
    "test_strict::test_strict_variable_comparison[1]": (
        "the test passes strict=False (f(x) = f(y)); the reward compares strictly, the default"
    ),
}


def _cases() -> list[dict[str, Any]]:
    return json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]


pytestmark = pytest.mark.usefixtures("quiet_cold_math")


def _completion(case: dict[str, Any]) -> str:
    return f"<think>Let me work it out.</think><answer>{case['pred']}</answer>"


def _reward(case: dict[str, Any]) -> int:
    reward = score("math", _completion(case), case["gold"])
    assert reward in (0.0, 1.0), case["id"]
    return int(reward)


def test_the_case_table_is_complete() -> None:
    cases = _cases()
    ids = [case["id"] for case in cases]
    assert len(ids) == len(set(ids)) == 269
    assert {case["expected"] for case in cases} == {0, 1}
    assert set(DISAGREEMENTS) <= set(ids)
    # Two more long predictions hold their own <think> block, which extraction drops.
    over_cap = {
        case["id"]
        for case in cases
        if len(extract_answer(_completion(case)) or "") > MAX_MATH_ANSWER_CHARS
    }
    assert over_cap == {key for key, why in DISAGREEMENTS.items() if why == _OVER_CAP}


def test_the_reward_agrees_with_math_verify_except_the_listed_cases() -> None:
    cases = _cases()
    disagreeing = {case["id"] for case in cases if _reward(case) != case["expected"]}
    assert disagreeing - set(DISAGREEMENTS) == set(), "new disagreements"
    assert set(DISAGREEMENTS) - disagreeing == set(), "listed cases that now agree"
    agree = len(cases) - len(disagreeing)
    assert (len(cases), agree, len(disagreeing)) == (269, 258, 11)


def test_thousands_separated_predictions_agree_after_normalisation() -> None:
    # Math-Verify's "1 000" row: plain Math-Verify inside $...$ reads it as 1*000 = 0.
    by_id = {case["id"]: case for case in _cases()}
    row = by_id["test_all::test_number_extraction[2]"]
    assert (row["gold"], row["pred"], row["expected"]) == ("1000", "1 000", 1)
    assert _reward(row) == 1
