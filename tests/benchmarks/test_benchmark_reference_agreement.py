"""Differential tests: the project's verdicts against the benchmark authors' rule-based scoring.

Each row holds a prediction, the item, and the verdict of the reference's rule path, derived by
reading (not running) its code:

- ``VLMEVALKIT_MCQ``: VLMEvalKit's ``can_infer`` (``can_infer_option`` then
  ``can_infer_text``, ``vlmeval/utils/matching_util.py``, open-compass/VLMEvalKit at
  e8e78f05), which MathVista, MathVision, MathVerse and DynaMath use before the GPT judge;
- ``MATHVISTA``: ``normalize_extracted_answer`` + ``safe_equal`` of lupantech/MathVista's
  ``evaluation/calculate_score.py`` (at 53d52587), with the prediction as the extraction;
  items come from a fixture in MathVista's published ``annot_testmini.json`` layout.

The last column names a deliberate difference (``REFERENCE_DIFFERENCES`` of
``vlaa.benchmarks.options`` / ``vlaa.benchmarks.mathvista``) where the reference is wrong;
there the project's verdict is the opposite. Every other row must agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_benchmarks import _load, _write_json, _write_png

from vlaa.benchmarks import mathvista, options, score_prediction
from vlaa.benchmarks.scoring import mcq_correct

DEGREES = {"A": "50°", "B": "60°", "C": "65°", "D": "90°"}
SIDES = {"A": "3", "B": "4", "C": "5", "D": "6"}
SHAPES = {"A": "square", "B": "triangle", "C": "circle", "D": "hexagon"}
NESTED = {"A": "1", "B": "12", "C": "2", "D": "21"}
FIVE = {"A": "1", "B": "2", "C": "3", "D": "4", "E": "5"}

# (prediction, options, gold label, reference verdict, deliberate difference or None)
VLMEVALKIT_MCQ: list[tuple[str, dict[str, str], str, bool, str | None]] = [
    ("B", DEGREES, "B", True, None),
    ("B, 60°", DEGREES, "B", True, None),  # label, comma, option text
    ("B:60°", DEGREES, "B", True, None),  # label glued to its value
    ("C:65°", DEGREES, "C", True, None),
    ("B; 60°", DEGREES, "B", True, None),
    ("(B)", DEGREES, "B", True, None),
    ("[B]", DEGREES, "B", True, None),
    ("B.", DEGREES, "B", True, None),
    ("**C**", DEGREES, "C", True, None),
    ("Option B", DEGREES, "B", True, None),
    ("The answer is B", DEGREES, "B", True, None),
    ("I think the answer is D", DEGREES, "D", True, None),  # "I" is no option label here
    ("The correct answer is **B**. Here's why: A is 50° and C is 65°.", DEGREES, "B", True, None),
    ("60°", DEGREES, "B", True, None),  # the option's text
    ("The angle is 60°", DEGREES, "B", True, None),  # one option's text inside a short answer
    ("(b) 60°", DEGREES, "B", True, None),  # read by the text rule
    ("A", DEGREES, "B", False, None),
    ("B, C", DEGREES, "B", False, None),  # two labels: none
    ("B because the angle at the top of the figure is sixty degrees", DEGREES, "B", False, None),
    ("Sorry, Cannot determine the answer", DEGREES, "B", False, None),
    (
        "It is the one at sixty degrees, as it is 60°, larger than the rest",
        DEGREES,
        "B",
        False,
        None,
    ),
    ("5", SIDES, "C", True, None),
    ("C", SIDES, "C", True, None),
    ("4", SIDES, "C", False, None),
    ("A cat", {"A": "cat", "B": "dog"}, "A", True, None),
    ("b", DEGREES, "B", False, "lower-case-label"),
    ("(b)", DEGREES, "B", False, "lower-case-label"),
    ("The answer is a triangle", SHAPES, "B", False, "answer-is-article"),
    ("The answer is Blue, i.e. the circle", SHAPES, "C", False, "answer-is-article"),
    ("12", NESTED, "B", False, "exact-text-first"),
    ("The answer is E. A, B, C and D are smaller.", FIVE, "E", False, "answer-is-any-label"),
]

# (prediction, question_type, answer_type, choices, precision, answer, reference verdict, diff)
MATHVISTA: list[tuple[str, str, str, list[str] | None, float | None, str, bool, str | None]] = [
    ("C", "multi_choice", "text", ["3", "4", "5", "6"], None, "5", True, None),
    ("(C) 5", "multi_choice", "text", ["3", "4", "5", "6"], None, "5", True, None),
    ("5", "multi_choice", "text", ["3", "4", "5", "6"], None, "5", True, None),
    ("B", "multi_choice", "text", ["3", "4", "5", "6"], None, "5", False, None),
    ("I don't know", "multi_choice", "text", ["3", "4", "5", "6"], None, "5", False, None),
    (
        "I don't know",
        "multi_choice",
        "text",
        ["3", "4", "5", "6"],
        None,
        "3",
        True,
        "no-nearest-choice",
    ),
    ("c", "multi_choice", "text", ["3", "4", "5", "6"], None, "5", False, "lower-case-label"),
    ("12", "free_form", "integer", None, None, "12", True, None),
    (" 12 ", "free_form", "integer", None, None, "12", True, None),
    ("12.0", "free_form", "integer", None, None, "12", True, None),
    ("12.7", "free_form", "integer", None, None, "12", True, None),  # int() truncates
    ("11.99", "free_form", "integer", None, None, "12", False, None),  # ... to 11
    ("-12.5", "free_form", "integer", None, None, "-12", True, None),  # towards zero
    ("1e1", "free_form", "integer", None, None, "10", True, None),
    ("13", "free_form", "integer", None, None, "12", False, None),
    ("nan", "free_form", "integer", None, None, "12", False, None),
    ("twelve", "free_form", "integer", None, None, "12", False, None),
    ("12 cm", "free_form", "integer", None, None, "12", False, "number-in-text"),
    ("1,000", "free_form", "integer", None, None, "1000", False, "number-in-text"),
    ("1.45", "free_form", "float", None, 2.0, "1.45", True, None),
    ("1.452", "free_form", "float", None, 2.0, "1.45", True, None),
    ("1.4549", "free_form", "float", None, 2.0, "1.45", True, None),
    ("1.456", "free_form", "float", None, 2.0, "1.45", False, None),
    ("1.4", "free_form", "float", None, 2.0, "1.45", False, None),
    ("1.54", "free_form", "float", None, 1.0, "1.5", True, None),
    ("1.56", "free_form", "float", None, 1.0, "1.5", False, None),
    ("inf", "free_form", "float", None, 1.0, "1.5", False, None),
    ("1.5", "free_form", "float", None, 2.0, "1.50", False, "float-value"),
    ("-0.01", "free_form", "float", None, 1.0, "0.0", False, "float-value"),
    ("$\\frac{29}{20}$", "free_form", "float", None, 2.0, "1.45", False, "number-in-text"),
    ("[1, 2, 3]", "free_form", "list", None, None, "[1, 2, 3]", True, None),
    ("[1, 2]", "free_form", "list", None, None, "[1, 2, 3]", False, None),
    ("[3, 2, 1]", "free_form", "list", None, None, "[1, 2, 3]", False, None),
    ("[1,2,3]", "free_form", "list", None, None, "[1, 2, 3]", False, "list-spacing"),
]

KNOWN_DIFFERENCES = {**options.REFERENCE_DIFFERENCES, **mathvista.REFERENCE_DIFFERENCES}


def _counts(rows: list[tuple[Any, ...]]) -> tuple[int, int, int]:
    """(cases, agreeing, deliberate differences) of a table."""
    different = sum(row[-1] is not None for row in rows)
    return len(rows), len(rows) - different, different


def test_table_counts_and_every_difference_is_documented() -> None:
    # The counts the report quotes; a new row must be added on purpose.
    assert _counts(VLMEVALKIT_MCQ) == (31, 25, 6)
    assert _counts(MATHVISTA) == (34, 26, 8)
    used = {row[-1] for row in VLMEVALKIT_MCQ + MATHVISTA} - {None}
    assert used == set(KNOWN_DIFFERENCES)  # each documented difference has a row, and no more


@pytest.mark.parametrize(
    ("prediction", "choices", "gold", "reference", "difference"),
    VLMEVALKIT_MCQ,
    ids=[row[0][:40] for row in VLMEVALKIT_MCQ],
)
def test_mcq_matches_vlmevalkit(
    prediction: str, choices: dict[str, str], gold: str, reference: bool, difference: str | None
) -> None:
    expected = reference if difference is None else not reference
    assert mcq_correct(prediction, gold, choices) is expected


@pytest.fixture(scope="module")
def mathvista_items(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """One item per MathVista row, read from ``annot_testmini.json`` + ``images/``."""
    root = tmp_path_factory.mktemp("MathVista")
    annotations = {}
    for pid, (_, qtype, atype, choices, precision, answer, _, _) in enumerate(MATHVISTA):
        _write_png(root / "images" / f"{pid}.jpg")
        annotations[str(pid)] = {
            "pid": str(pid),
            "question": "What is shown?",
            "image": f"images/{pid}.jpg",
            "choices": choices,
            "unit": None,
            "precision": precision,
            "answer": answer,
            "question_type": qtype,
            "answer_type": atype,
            "metadata": {"source": "fixture"},
        }
    _write_json(root / "annot_testmini.json", annotations)
    return _load("mathvista", Path(root), Path(tmp_path_factory.mktemp("cache")))


@pytest.mark.parametrize("row", range(len(MATHVISTA)), ids=[r[0][:30] for r in MATHVISTA])
def test_mathvista_matches_calculate_score(mathvista_items: list[Any], row: int) -> None:
    prediction, *_, reference, difference = MATHVISTA[row]
    expected = reference if difference is None else not reference
    item = mathvista_items[row]
    assert score_prediction(item, f"<answer>{prediction}</answer>").correct is expected
