"""Differential tables for MathVision, MathVerse and DynaMath, in the style of
``test_benchmark_reference_agreement.py``: a prediction, the item, and the reference's verdict
on its rule path (no GPT), derived by reading its code; the last column names a deliberate
difference (the benchmark module's ``REFERENCE_DIFFERENCES``), where the project's verdict is
the opposite. The prediction stands for the text the reference scores (its GPT extraction or
DynaMath's JSON "short answer").

- ``MATHVISION``: ``post_check`` / ``is_equal`` of VLMEvalKit's
  ``vlmeval/dataset/utils/mathv.py`` (open-compass/VLMEvalKit at e8e78f05);
- ``MATHVERSE``: exact match, ``post_check_score`` of VLMEvalKit's
  ``vlmeval/dataset/utils/mathverse.py`` (``strip()`` then ``==``) = ``match_answer(...,
  quick_match=True)`` of ZrrSkywalker/MathVerse's ``evaluation/score_answer_s2.py`` (937b0905);
  the rows from the GPT judge's in-context examples (``get_gpt4_score_ICE``) are marked;
- ``DYNAMATH``: ``parse_answer`` + ``DynaMath_auxeval`` of VLMEvalKit's
  ``vlmeval/dataset/dynamath.py`` with the judge unavailable (its fallback for letters:
  the gold letter among the first three characters).
"""

from __future__ import annotations

from typing import Any

import pytest

from vlaa.benchmarks import EvalItem, dynamath, mathverse, mathvision, score_prediction

SHAPES = {"A": "circle", "B": "square", "C": "triangle", "D": "star", "E": "moon"}
DEGREES = {"A": "50°", "B": "60°", "C": "65°", "D": "90°"}
DOMAIN = "domain: [-4, 0) and range: (-3, 1]"

# (prediction, answer kind, gold, options, reference verdict, deliberate difference or None)
Row = tuple[str, str, str, dict[str, str], bool, str | None]

MATHVISION: list[Row] = [
    # choices: can_infer(response, choices), then is_equal(letter, answer)
    ("B", "mcq", "B", SHAPES, True, None),
    ("square", "mcq", "B", SHAPES, True, None),
    ("C", "mcq", "B", SHAPES, False, None),
    ("B, C", "mcq", "B", SHAPES, False, None),
    # free form: equal lower-cased text
    ("4", "free_form", "4", {}, True, None),
    (" 4 ", "free_form", "4", {}, True, None),
    ("Yes", "free_form", "yes", {}, True, None),
    ("2\\sqrt{3}", "free_form", "2\\sqrt{3}", {}, True, None),
    # eval() of both within 1e-6
    ("4.0", "free_form", "4", {}, True, None),
    ("3.", "free_form", "3", {}, True, None),
    ("3/2", "free_form", "1.5", {}, True, None),
    ("2**2", "free_form", "4", {}, True, None),
    ("12.0000001", "free_form", "12", {}, True, None),  # within 1e-6
    ("1e-7", "free_form", "0", {}, True, None),  # read as a number, not e - 7
    ("12.00001", "free_form", "12", {}, False, None),
    ("-4", "free_form", "4", {}, False, None),
    ("five", "free_form", "5", {}, False, None),
    # latex2sympy of both, eval(str(...)) within 1e-6
    ("0.5", "free_form", "\\frac{1}{2}", {}, True, None),
    ("1/2", "free_form", "\\frac{1}{2}", {}, True, None),
    ("0.75", "free_form", "\\frac{3}{4}", {}, True, None),
    ("0.3333333", "free_form", "\\frac{1}{3}", {}, True, None),
    ("0.33", "free_form", "\\frac{1}{3}", {}, False, None),  # MATH-V's own: True (2 decimals)
    ("30^\\circ", "free_form", "30", {}, True, None),
    ("\\boxed{2}", "free_form", "2", {}, True, None),
    ("3.14", "free_form", "\\pi", {}, False, None),
    ("x=4", "free_form", "4", {}, False, "answer-in-text"),
    ("4 cm", "free_form", "4", {}, False, "answer-in-text"),
    ("30°", "free_form", "30", {}, False, "answer-in-text"),
    ("The answer is 4", "free_form", "4", {}, False, "answer-in-text"),
    ("\\sqrt{12}", "free_form", "2\\sqrt{3}", {}, False, "sympy-eval"),  # eval('sqrt(3)')
    ("6.283185", "free_form", "2\\pi", {}, False, "sympy-eval"),  # eval('2*pi')
    ("(1, 2)", "free_form", "(1,2)", {}, False, "tuple-equivalence"),
    ("A", "free_form", "4", {}, True, "eval-local-names"),  # eval('a') is is_equal's local a
]

MATHVERSE: list[Row] = [
    ("C", "mcq", "C", DEGREES, True, None),
    (" C ", "mcq", "C", DEGREES, True, None),
    ("C", "mcq", "C", {}, True, None),  # Vision Only: the options are in the image
    ("D", "mcq", "C", DEGREES, False, None),
    ("B:60°", "mcq", "C", DEGREES, False, None),  # judge example 2 ("B:2√3" for C): 0
    ("12", "free_form", "12", {}, True, None),
    ("22.3", "free_form", "22.3", {}, True, None),
    ("\\sqrt{3}", "free_form", "\\sqrt{3}", {}, True, None),
    ("(-2, 1)", "free_form", "(-2,1]", {}, False, None),  # judge example 1: 0
    ("Range: (-4, 1]", "free_form", DOMAIN, {}, False, None),  # judge example 3: 0
    ("null", "free_form", "12", {}, False, None),  # judge example 4: 0
    ("50 cm", "free_form", "0.5 m", {}, False, None),  # (the judge's prompt would say 1)
    ("C:65°", "mcq", "C", DEGREES, False, "judge-extraction"),
    ("The answer is C", "mcq", "C", DEGREES, False, "judge-extraction"),
    ("65°", "mcq", "C", DEGREES, False, "judge-extraction"),
    ("c", "mcq", "C", DEGREES, False, "judge-equivalence"),
    ("0.5", "free_form", "\\frac{1}{2}", {}, False, "judge-equivalence"),
    ("22.30", "free_form", "22.3", {}, False, "judge-equivalence"),
    ("f(x)=-x^2-2x+1", "free_form", "f(x) = -x^2 - 2x + 1", {}, False, "judge-equivalence"),
]

MCQ, FLOAT, TEXT = "mcq", "numeric", "free_form"  # DynaMath's three answer types
DYNAMATH: list[Row] = [
    # float: float() of the first word (times pi before a "π"), |diff| <= 0.001
    ("3.142", FLOAT, "3.142", {}, True, None),
    ("3.1424", FLOAT, "3.142", {}, True, None),
    ("3.143", FLOAT, "3.142", {}, True, None),
    ("3.144", FLOAT, "3.142", {}, False, None),
    ("-0.5", FLOAT, "-0.500", {}, True, None),
    ("5", FLOAT, "5.000", {}, True, None),
    ("5 cm", FLOAT, "5.000", {}, True, None),
    ("2π", FLOAT, "6.283", {}, True, None),
    ("nan", FLOAT, "5.000", {}, False, None),
    ("x = 5", FLOAT, "5.000", {}, False, "number-in-text"),
    ("The answer is 5", FLOAT, "5.000", {}, False, "number-in-text"),
    ("1,000", FLOAT, "1000.000", {}, False, "number-in-text"),
    ("50%", FLOAT, "50.000", {}, False, "number-in-text"),
    ("\\frac{1}{2}", FLOAT, "0.500", {}, False, "latex-number"),
    ("2\\pi", FLOAT, "6.283", {}, False, "latex-number"),
    ("π", FLOAT, "3.142", {}, False, "latex-number"),  # float('') before the π
    # multiple choice: one character, or exactly one of A-E in the upper-cased answer
    ("B", MCQ, "B", {}, True, None),
    ("b", MCQ, "B", {}, True, None),
    ("(B)", MCQ, "B", {}, True, None),
    ("B. 60°", MCQ, "B", {}, True, None),
    ("Option B", MCQ, "B", {}, True, None),
    ("E", MCQ, "E", {}, True, None),
    ("A", MCQ, "B", {}, False, None),
    ("60°", MCQ, "B", {}, False, None),
    ("Both A and B", MCQ, "A", {}, False, None),
    ("The answer is B", MCQ, "B", {}, False, "judge-extraction"),
    ("I think the answer is D", MCQ, "D", {}, False, "judge-extraction"),
    ("B, C", MCQ, "B", {}, True, "first-three-characters"),
    ("Both A and B", MCQ, "B", {}, True, "first-three-characters"),
    ("Cannot determine", MCQ, "C", {}, True, "first-three-characters"),
    ("The answer is B", MCQ, "E", {}, True, "first-three-characters"),
    # text: the answer (lower-cased) is a substring of the ground truth
    ("yes", TEXT, "Yes", {}, True, None),
    ("(3, 4)", TEXT, "(3, 4)", {}, True, None),
    ("Yes", TEXT, "No", {}, False, None),
    ("Yes, it is", TEXT, "Yes", {}, False, None),
    ("3", TEXT, "(3, 4)", {}, True, "substring-text"),
    ("es", TEXT, "Yes", {}, True, "substring-text"),
    ("", TEXT, "Yes", {}, True, "substring-text"),
    ("(3,4)", TEXT, "(3, 4)", {}, False, "text-equivalence"),
    ("y = 2x + 1", TEXT, "y=2x+1", {}, False, "text-equivalence"),
    ("\\frac{1}{2}", TEXT, "1/2", {}, False, "text-equivalence"),
]

TABLES: dict[str, tuple[list[Row], dict[str, str]]] = {
    "mathvision": (MATHVISION, mathvision.REFERENCE_DIFFERENCES),
    "mathverse": (MATHVERSE, mathverse.REFERENCE_DIFFERENCES),
    "dynamath": (DYNAMATH, dynamath.REFERENCE_DIFFERENCES),
}


def _counts(rows: list[Row]) -> tuple[int, int, int]:
    """(cases, agreeing, deliberate differences) of a table."""
    different = sum(row[-1] is not None for row in rows)
    return len(rows), len(rows) - different, different


def test_table_counts_and_every_difference_is_documented() -> None:
    # The counts the report quotes; a new row must be added on purpose.
    assert _counts(MATHVISION) == (33, 25, 8)
    assert _counts(MATHVERSE) == (19, 12, 7)
    assert _counts(DYNAMATH) == (41, 22, 19)
    for name, (rows, documented) in TABLES.items():
        used = {row[-1] for row in rows} - {None}
        assert used == set(documented), name  # each difference has a row, and no more


def _item(benchmark: str, kind: str, gold: str, options: dict[str, str]) -> EvalItem:
    """The item as the benchmark's loader builds it (DynaMath floats carry its tolerance)."""
    return EvalItem(
        id="x",
        benchmark=benchmark,
        images=["/tmp/x.png"],
        question="q",
        prompt="q",
        answer=gold,
        answer_kind=kind,  # type: ignore[arg-type]
        options=options,
        tolerance=dynamath.FLOAT_TOLERANCE if benchmark == "dynamath" and kind == FLOAT else None,
    )


CASES = [(name, row) for name, (rows, _) in TABLES.items() for row in rows]


@pytest.mark.parametrize(
    ("benchmark", "row"), CASES, ids=[f"{name}-{row[0][:30]}" for name, row in CASES]
)
def test_project_matches_the_reference_or_a_documented_difference(benchmark: str, row: Row) -> None:
    prediction, kind, gold, options, reference, difference = row
    expected = reference if difference is None else not reference
    item: Any = _item(benchmark, kind, gold, options)
    assert score_prediction(item, f"<answer>{prediction}</answer>").correct is expected
