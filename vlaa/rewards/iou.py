"""The ``iou`` verifier: continuous IoU of the answer's box with the ground-truth box."""

from __future__ import annotations

from vlaa.boxes import Box, box_iou, first_box, valid_box


def parse_box(text: str) -> Box | None:
    """The first ``[x1, y1, x2, y2]`` in ``text``, or ``None`` if absent or degenerate."""
    box = first_box(text)
    return valid_box(box) if box is not None else None


def _ground_truth_box(answer: object) -> Box | None:
    # Lenient on the ground truth: any four values ``float`` accepts, in a list or a tuple.
    if isinstance(answer, str):
        return parse_box(answer)
    if isinstance(answer, list | tuple):
        try:
            return valid_box([float(v) for v in answer])
        except (TypeError, ValueError):
            return None
    return None


def score_iou(predicted: str, answer: object) -> float:
    """Continuous IoU of the predicted box with the ground truth; malformed boxes score 0."""
    expected = _ground_truth_box(answer)
    got = parse_box(predicted)
    if expected is None or got is None:
        return 0.0
    return box_iou(got, expected)
