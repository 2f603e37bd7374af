"""Fuzzing (hypothesis) of the bounded JSON parsing and the record validator: whatever the
input, a row comes back valid or with a reason, and nothing else is raised.

Bounded in time: derandomised, a fixed number of examples each, no per-example deadline
(the machine is shared); about 10 s in all on the 2-core runner.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vlaa.data import json_array_scan, rules
from vlaa.data.json_array_scan import BLOCK_BYTES, ArrayBroken, iter_array_items
from vlaa.data.json_bounds import depth_exceeds, parse_row
from vlaa.data.limits import InputLimits
from vlaa.data.validation import Rejected, Validator
from vlaa.records import REWARD_TYPES, Record
from vlaa.rewards.digit import parse_number

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SMALL = InputLimits(max_json_depth=8, max_row_bytes=4096, max_question_chars=200)
PARSE_REASONS = {"row_too_large", "json_too_deep", "non_utf8", "invalid_json", "non_finite_number"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@FUZZ
@given(st.lists(json_values, max_size=6), st.booleans(), st.integers(1, 64))
def test_the_array_scanner_reads_what_json_reads(
    values: list[Any], indent: bool, block: int
) -> None:
    data = json.dumps(values, indent=1 if indent else None, ensure_ascii=False).encode()
    items = list(iter_array_items(io.BytesIO(data), "item", InputLimits(), block=block))
    assert [item.value for item in items] == json.loads(data)
    assert all(item.problem is None for item in items)


@FUZZ
@given(st.lists(st.integers(0, 14), max_size=6), st.integers(1, 16))
def test_exactly_the_items_over_the_depth_limit_are_flagged(depths: list[int], block: int) -> None:
    items_text = [b"[" * depth + b'"]["' + b"]" * depth for depth in depths]
    data = b"[" + b", ".join(items_text) + b"]"
    items = list(iter_array_items(io.BytesIO(data), "item", SMALL, block=block))
    problems = [item.problem[0] if item.problem else None for item in items]
    assert problems == ["json_too_deep" if depth > 8 else None for depth in depths]


@FUZZ
@given(st.data())
def test_the_array_scanner_survives_damaged_files(data: st.DataObject) -> None:
    values = data.draw(st.lists(json_values, min_size=1, max_size=5))
    raw = bytearray(json.dumps({"data": values}).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw)))
        junk = data.draw(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b",", b"\xff", b""]))
        raw[position : position + data.draw(st.integers(0, 2))] = junk
    try:
        for item in iter_array_items(io.BytesIO(bytes(raw)), "data.item", SMALL, block=7):
            assert (item.value is None) == (item.problem is not None) or item.value is None
            assert item.problem is None or item.problem[0] in PARSE_REASONS
    except ArrayBroken as broken:
        assert 0 <= broken.offset <= len(raw)


# Items the fast path must hand to the byte scanner (limits of SMALL): NaN, 1e999, an integer
# over 4300 digits, too deep, too large, many openers but shallow, and broken ones.
HOSTILE_ITEMS = [
    b"NaN",
    b"-Infinity",
    b"[1e999]",
    b"1" * 5000,
    b"[" * 9 + b"]" * 9,
    b'{"a": ' + b"[" * 20 + b'"]"' + b"]" * 20 + b"}",
    json.dumps("x" * 5000).encode(),
    json.dumps([[i] for i in range(80)]).encode(),
    '{"été": "≈ \U0001f600 \\ud83d\\ude00 \\"]"}'.encode(),  # multi-byte, escapes
    b'{"a": 1 "b": 2}',
    b"[1, 2}",
    b'"\xff\xfe"',
    b"tru",
    b"",
]


def _read(data: bytes, limits: InputLimits, block: int) -> list[Any]:
    """Items as comparable tuples, ending with the ArrayBroken's reason, offset and count."""
    seen: list[Any] = []
    try:
        for item in iter_array_items(io.BytesIO(data), "item", limits, block=block):
            seen.append((item.index, item.offset, repr(item.value), item.problem))
    except ArrayBroken as broken:
        seen.append((broken.reason, broken.offset, broken.items))
    return seen


def _no_fast_path(self: Any) -> Any:
    return False
    yield  # a generator, as _Scanner._window_items


@pytest.mark.parametrize("block", [7, 64, 4096, BLOCK_BYTES])
@pytest.mark.parametrize("limits", [SMALL, InputLimits()], ids=["small", "default"])
@settings(FUZZ, max_examples=40)
@given(
    st.lists(
        st.sampled_from(HOSTILE_ITEMS)
        | json_values.map(lambda value: json.dumps(value, ensure_ascii=False).encode()),
        max_size=12,
    ),
    st.sampled_from([b",", b", ", b",\n  ", b" ,"]),
)
def test_the_fast_path_reads_exactly_what_the_byte_scanner_reads(
    block: int, limits: InputLimits, items: list[bytes], separator: bytes
) -> None:
    data = b"[" + separator.join(items) + b"]"
    fast = _read(data, limits, block)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_array_scan._Scanner, "_window_items", _no_fast_path)
        assert fast == _read(data, limits, block)


def test_ordinary_items_never_reach_the_byte_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release-sized array of ordinary rows (windows cut inside items at every block and
    opener budget) is read by the fast path alone."""
    rows = [
        {"id": str(n), "gt": [0.1, 0.2, n], "meta": {"t": "\u00e9" * (n % 3)}, "a": "w " * n}
        for n in range(3000)
    ]
    data = json.dumps(rows, indent=1).encode()

    def byte_scanner(*_: Any) -> Any:
        raise AssertionError("an ordinary item reached the byte scanner")

    monkeypatch.setattr(json_array_scan._Scanner, "_close", byte_scanner)
    items = list(iter_array_items(io.BytesIO(data), "item", InputLimits(), block=BLOCK_BYTES // 8))
    assert [item.value for item in items] == rows
    assert [item.offset for item in items[:2]] == [data.index(b"{"), data.index(b'{\n  "id": "1"')]


@FUZZ
@given(st.binary(max_size=300) | json_values.map(lambda value: json.dumps(value).encode()))
def test_parse_row_returns_a_value_or_a_reason(raw: bytes) -> None:
    value, problem = parse_row(raw, SMALL)
    assert problem is None or (value is None and problem[0] in PARSE_REASONS and problem[1])


@FUZZ
@given(json_values, st.integers(0, 6))
def test_the_depth_check_counts_nesting_only(value: Any, limit: int) -> None:
    assert depth_exceeds(json.dumps(value).encode(), limit) == (_depth(value) > limit)


# ----------------------------------------------------------------------------- validator


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    Image.new("RGB", (40, 30), (90, 10, 200)).save(root / "good.png")
    Image.new("RGB", (3000, 10)).save(root / "wide.png")
    (root / "text.png").write_bytes(b"not an image")
    return root


numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 2000)
ANSWERS = {
    "digit": st.sampled_from(["3", "-2.5", "1,000", "nan", "inf", "-Infinity", "1e999", "1_0"])
    | st.text(max_size=8),
    "mcq": st.sampled_from(["A", "(b)", "C.", "E", "maybe"]) | st.text(max_size=4),
    "iou": st.lists(numbers, min_size=3, max_size=5) | st.just("[0.1, 0.2, 0.3, 0.4]"),
    "math": st.sampled_from(["a = 2", "x^2", "\\frac{1}{2}"]) | st.text(max_size=12),
    "open": st.text(max_size=12) | st.lists(st.text(max_size=5), max_size=3),
    "essay": st.text(max_size=5),
}
IMAGES = ["good.png"] * 5 + ["wide.png", "text.png", "none.png", "../x", "/abs"]
QUESTIONS = ["Which? A. x B. y C. z D. w", "How many?", "Pick:\nA: 1\nB: 2"]


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-formed rows with hostile values where they hurt; now and then any field
    replaced by any JSON value."""
    reward_type = draw(st.sampled_from([*REWARD_TYPES, *REWARD_TYPES, "essay"]))
    row: dict[str, Any] = {
        "id": draw(st.text(min_size=1, max_size=6)),
        "source": "s",
        "image": draw(st.sampled_from(IMAGES)),
        "question": draw(st.sampled_from(QUESTIONS) | st.text(min_size=1, max_size=300)),
        "answer": draw(ANSWERS[reward_type]),
        "reward_type": reward_type,
    }
    if draw(st.booleans()):
        row["meta"] = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    if draw(st.integers(0, 4)) == 0:
        row[draw(st.sampled_from(sorted(row)))] = draw(json_values)
    return row


def _check_record(record: Record) -> None:
    """What training relies on for every record the validator lets through."""
    assert len(record.question) <= SMALL.max_question_chars
    if record.reward_type == "iou":
        x1, y1, x2, y2 = record.answer  # type: ignore[misc]
        assert all(math.isfinite(v) and 0 <= v <= 1 for v in record.answer)  # type: ignore[union-attr]
        assert x1 < x2 and y1 < y2
    if record.reward_type == "digit":
        number = parse_number(record.answer)  # type: ignore[arg-type]
        assert number is not None and number.is_finite()
    if record.reward_type == "mcq":
        letters = rules.listed_options(record.question)
        assert not letters or record.answer in letters


@FUZZ
@given(rows(), st.booleans())
def test_the_validator_keeps_a_usable_record_or_gives_a_reason(
    image_root: Path, row: dict[str, Any], as_line: bool
) -> None:
    data: dict[str, Any] | bytes = json.dumps(row).encode() if as_line else row
    try:
        record = Validator(SMALL).check(data, image_root, "", "fuzz")
    except Rejected as rejected:
        assert rejected.reason and rejected.detail
        return
    _check_record(record)
