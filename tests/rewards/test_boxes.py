"""The box codec: each reader's entry point, the checks, the writer and IoU."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vlaa.boxes import (
    box_iou,
    exact_box,
    finite_box,
    first_box,
    format_box,
    json_box,
    last_box,
    loose_box,
    valid_box,
)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("x [0.1,0.2,0.3,0.4] y [0,0,1,1]", [0.1, 0.2, 0.3, 0.4], [0.0, 0.0, 1.0, 1.0]),
        ("[ 1 , 2 , 3 , 4 ]", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]),
        ("[+.5, -2., 1e-1, 3E2]", [0.5, -2.0, 0.1, 300.0], [0.5, -2.0, 0.1, 300.0]),
        ("[1, 2, 3]", None, None),
        ("[1, 2, 3, 4, 5]", None, None),
        ("(1, 2, 3, 4)", None, None),
        ("no box", None, None),
    ],
)
def test_first_and_last_box_find_a_bracketed_box_anywhere(
    text: str, first: list[float] | None, last: list[float] | None
) -> None:
    assert first_box(text) == first
    assert last_box(text) == last


def test_readers_return_the_numbers_unchecked() -> None:
    # Range, order and area are the caller's checks (valid_box, finite_box, box_problem).
    assert first_box("[0.5, 0.5, 0.1, 0.1]") == [0.5, 0.5, 0.1, 0.1]
    assert last_box("[0, 0, 1e999, 1]") == [0.0, 0.0, float("inf"), 1.0]


def test_exact_box_is_the_whole_text_or_nothing() -> None:
    assert exact_box("  [0.1, 0.2, 0.5, 0.6]\n") == [0.1, 0.2, 0.5, 0.6]
    assert exact_box("box: [0.1, 0.2, 0.5, 0.6]") is None
    assert exact_box("[0.1, 0.2, 0.5, 0.6].") is None


def test_json_box_takes_the_text_or_a_list_of_four_finite_numbers() -> None:
    assert json_box("[0.1, 0.2, 0.5, 0.6]") == [0.1, 0.2, 0.5, 0.6]
    assert json_box([0.1, 0.2, 0.5, 0.6]) == [0.1, 0.2, 0.5, 0.6]
    assert json_box([0, 0, 1, 1]) == [0.0, 0.0, 1.0, 1.0]
    for not_a_box in (
        "[0.1, 0.2]",
        "the dog",
        "see [0.1, 0.2, 0.5, 0.6]",
        "[0, 0, 1e999, 1]",
        [0.1, 0.2, 0.5],
        [0.1, 0.2, 0.5, float("nan")],
        [True, 0.2, 0.5, 0.6],
        ["0.1", "0.2", "0.5", "0.6"],
        (0.1, 0.2, 0.5, 0.6),
        None,
        0.5,
    ):
        assert json_box(not_a_box) is None, not_a_box


def test_loose_box_reads_exactly_four_numbers_with_or_without_brackets() -> None:
    assert loose_box("[0.100, 0.200, 0.500, 0.600]") == [0.1, 0.2, 0.5, 0.6]
    assert loose_box("0.1 0.2 0.5 0.6") == [0.1, 0.2, 0.5, 0.6]
    assert loose_box("-1, 2, 3, 4") == [-1.0, 2.0, 3.0, 4.0]
    assert loose_box("[0.1, 0.2, 0.5]") is None
    assert loose_box("box 2 of [0.1, 0.2, 0.5, 0.6]") is None  # five numbers


def test_finite_box_and_valid_box() -> None:
    assert finite_box([0, 1, 2, 3]) == [0.0, 1.0, 2.0, 3.0]
    assert finite_box([0, 1, 2]) is None
    assert finite_box([0, 1, 2, float("inf")]) is None
    assert valid_box([0.1, 0.2, 0.5, 0.6]) == (0.1, 0.2, 0.5, 0.6)
    assert valid_box([0.5, 0.2, 0.5, 0.6]) is None  # no width
    assert valid_box([0.1, 0.6, 0.5, 0.2]) is None  # upside down
    assert valid_box([0.1, 0.2, float("nan"), 0.6]) is None
    assert valid_box([0.1, 0.2, 0.5]) is None


def test_format_box_round_trips_through_every_reader() -> None:
    box = [0.1, 0.25, 0.5, 0.75]
    text = format_box(box)
    assert text == "[0.100, 0.250, 0.500, 0.750]"
    assert format_box(box, decimals=1) == "[0.1, 0.2, 0.5, 0.8]"
    for reader in (first_box, last_box, exact_box, json_box, loose_box):
        assert reader(text) == box, reader.__name__


def test_box_iou() -> None:
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert box_iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert box_iou((0, 0, 1, 1), (1, 1, 2, 2)) == 0.0  # touching corners


def test_the_codec_is_a_leaf_module() -> None:
    code = "import sys, vlaa.boxes; print(sorted(m for m in sys.modules if m.startswith('vlaa')))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "['vlaa', 'vlaa.boxes']"
