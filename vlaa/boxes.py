"""The one codec of ``[x1, y1, x2, y2]`` bounding boxes: reading them from text, writing them.

Boxes travel as text (answers, conclusions, JSON ground truths) and every reader of them uses
this module. Readers differ in where the box may sit and what they accept, so each has its own
entry point rather than a flag:

- :func:`first_box` / :func:`last_box`: the first / last bracketed box anywhere in a text;
- :func:`exact_box`: a text that is one bracketed box and nothing else;
- :func:`json_box`: a box as a JSON value carries it, that text or a list of four numbers;
- :func:`loose_box`: the four numbers of a text that holds exactly four (brackets optional).

They return the four numbers as floats and check nothing else; :func:`finite_box` and
:func:`valid_box` are the checks a caller adds. :func:`format_box` writes a box, :func:`box_iou`
compares two. A leaf module: it imports nothing from ``vlaa``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

Box = tuple[float, float, float, float]

# A decimal number with an optional sign and exponent: 3, -0.5, .5, 2., 1e-3.
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# Linear to scan: the number pattern has no nested quantifiers and cannot hold "," or "]".
_BRACKETED = re.compile(r"\[\s*" + r"\s*,\s*".join([f"({NUMBER})"] * 4) + r"\s*\]")
# The loose reading's own, narrower number: no "+" sign, no exponent, no bare ".5" or "2.".
_LOOSE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def first_box(text: str) -> list[float] | None:
    """The first ``[x1, y1, x2, y2]`` written in ``text``, or ``None``."""
    match = _BRACKETED.search(text)
    return [float(value) for value in match.groups()] if match else None


def last_box(text: str) -> list[float] | None:
    """The last ``[x1, y1, x2, y2]`` written in ``text``, or ``None``."""
    matches = _BRACKETED.findall(text)
    return [float(value) for value in matches[-1]] if matches else None


def exact_box(text: str) -> list[float] | None:
    """The box ``text`` is (outer whitespace aside), or ``None`` if it holds anything else."""
    match = _BRACKETED.fullmatch(text.strip())
    return [float(value) for value in match.groups()] if match else None


def json_box(value: Any) -> list[float] | None:
    """A finite box from the text ``"[x1, y1, x2, y2]"`` or a list of four numbers, else None.

    Only a ``list`` of ints and floats is a list box (no tuples, strings or bools): what
    ``json.loads`` gives for a box.
    """
    if isinstance(value, str):
        box = exact_box(value)
    elif isinstance(value, list) and all(_is_number(item) for item in value):
        box = [float(item) for item in value]
    else:
        return None
    return finite_box(box) if box is not None else None


def loose_box(text: str) -> list[float] | None:
    """The numbers of ``text`` when it holds exactly four, brackets and separators aside."""
    numbers = _LOOSE_NUMBER.findall(text)
    return [float(number) for number in numbers] if len(numbers) == 4 else None


def finite_box(values: Sequence[float]) -> list[float] | None:
    """``values`` as a box when they are four finite numbers, else ``None``."""
    box = [float(value) for value in values]
    if len(box) != 4 or not all(math.isfinite(value) for value in box):
        return None
    return box


def valid_box(values: Sequence[float]) -> Box | None:
    """``values`` as a box with an area (finite, ``x1 < x2`` and ``y1 < y2``), else ``None``."""
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        return None
    x1, y1, x2, y2 = values
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def format_box(box: Sequence[float], decimals: int = 3) -> str:
    """``[x1, y1, x2, y2]`` with ``decimals`` places each: the form answers are written in."""
    return "[" + ", ".join(f"{value:.{decimals}f}" for value in box) + "]"


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return max(0.0, min(1.0, inter / union)) if union > 0 else 0.0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
