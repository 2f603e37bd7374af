"""We-Math's four-dimensional metrics against its authors' formulas.

Reference: We-Math/We-Math ``evaluation/four_dimensional_metrics.py`` (a57a0e83):
``calculate_metrics`` (the boolean masks per category), ``compute_final_scores`` (rates: count /
total, RM: RM / (CM + RM)) and ``update_main_results_df`` (score: (525 - 0.5 IG - RM - IK) /
525); ``evaluation/accuracy.py`` for the one/two/three-step accuracies. The expected numbers
below were worked out by hand from those formulas for the fixture, with the total being the
fixture's group count (deliberate difference ``group-count``; the reference hard-codes 525).
"""

from __future__ import annotations

import pytest
from test_benchmarks import _scores, _wemath_group

from vlaa.benchmarks import aggregate, wemath

T, F = True, False
# group -> (steps, verdicts of sub-problems 1..n then the composite), and the reference's
# category (its mask names: rows_1 = RM, rows_2 = IG, rows_3 = IK, rows_4 = CM).
GROUPS: dict[str, tuple[int, list[bool]]] = {
    "2steps_1": (2, [T, T, T]),  # CM strict + loose
    "2steps_2": (2, [T, F, T]),  # RM strict, CM loose
    "2steps_3": (2, [F, F, T]),  # RM strict + loose
    "2steps_4": (2, [T, T, F]),  # IG
    "2steps_5": (2, [F, T, F]),  # IK
    "3steps_1": (3, [T, T, T, T]),  # CM strict + loose
    "3steps_2": (3, [F, F, F, F]),  # IK
    "3steps_3": (3, [T, T, T, F]),  # IG
    "3steps_4": (3, [F, T, F, T]),  # RM strict, CM loose
    "3steps_5": (3, [F, F, F, T]),  # RM strict + loose
}
G = len(GROUPS)
REFERENCE_COUNTS = {
    "IG": 2,
    "IK": 2,
    "CM_strict": 2,
    "CM_loose": 4,
    "RM_strict": 4,
    "RM_loose": 2,
}
# compute_final_scores / update_main_results_df with total_count = G
REFERENCE_NUMBERS = {
    "IG": 2 / G,
    "IK": 2 / G,
    "CM_strict": 2 / G,
    "CM_loose": 4 / G,
    "RM_strict": 4 / (2 + 4),
    "RM_loose": 2 / (4 + 2),
    "score_strict": (G - 0.5 * 2 - 4 - 2) / G,  # 0.3
    "score_loose": (G - 0.5 * 2 - 2 - 2) / G,  # 0.5
    # accuracy.py: sub-problems pooled; composites per step count
    "one_step_accuracy": 13 / 25,
    "two_step_accuracy": 3 / 5,
    "three_step_accuracy": 3 / 5,
}
# The reference's own strict score on this fixture, dividing by 525: not a rate of anything.
REFERENCE_STRICT_SCORE_OVER_525 = (525 - 0.5 * 2 - 4 - 2) / 525


def _metrics(groups: dict[str, tuple[int, list[bool]]], cut: dict[str, int] | None = None) -> dict:
    """Aggregate of the groups; ``cut[group] = k`` drops that group's member at index k."""
    pairs = []
    for group, (steps, verdicts) in groups.items():
        members = _wemath_group(group, steps, verdicts)
        if cut and group in cut:
            del members[cut[group]]
        pairs += members
    items = [item for item, _ in pairs]
    return aggregate("wemath", items, _scores(items, {i.id for i, v in pairs if v}))


def test_counts_and_rates_match_the_reference_formulas() -> None:
    m = _metrics(GROUPS)
    assert m["groups"] == G and m["incomplete_groups"] == 0
    assert {name: m[f"count_{name}"] for name in REFERENCE_COUNTS} == REFERENCE_COUNTS
    for name, value in REFERENCE_NUMBERS.items():
        assert m[name] == pytest.approx(value), name
    # group-count: the reference's 525 would give 0.987 here; the project scores the groups.
    assert m["score_strict"] != pytest.approx(REFERENCE_STRICT_SCORE_OVER_525)
    assert m["headline"] == m["score_strict"]


def test_incomplete_groups_are_left_out_where_the_reference_counts_some() -> None:
    groups = {
        **GROUPS,
        "2steps_6": (2, [F, F, F]),  # sub-problem 2 cut: the reference counts IK (F | NaN)
        "2steps_7": (2, [T, F, T]),  # sub-problem 2 cut: the reference counts CM loose
    }
    m = _metrics(groups, cut={"2steps_6": 1, "2steps_7": 1})
    reference = {**REFERENCE_COUNTS, "IK": 3, "CM_loose": 5}  # its masks on the left join
    assert (m["groups"], m["incomplete_groups"]) == (G, 2)
    project = {name: m[f"count_{name}"] for name in REFERENCE_COUNTS}
    assert project == REFERENCE_COUNTS  # incomplete-group: no category for either
    assert [name for name in reference if reference[name] != project[name]] == ["IK", "CM_loose"]


def test_every_wemath_difference_is_exercised() -> None:
    exercised = {"group-count", "incomplete-group"}  # the two tests above
    assert exercised == set(wemath.REFERENCE_DIFFERENCES)
