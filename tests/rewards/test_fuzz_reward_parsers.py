"""Fuzzing (hypothesis) of the verifiers' parse functions: any completion and any ground truth
give a reward in [0, 1] (or a parse of the documented type), never an exception.

Bounded in time: derandomised, a fixed number of examples each (Math-Verify, the slowest, gets
the fewest), no per-example deadline on the shared machine; about 10 s in all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlaa import boxes
from vlaa.records import parse_answer_list
from vlaa.rewards import (
    extract_answer,
    normalize_mcq,
    parse_box,
    parse_number,
    reference_answers,
    score,
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# The characters the parsers care about, so the fuzzer reaches past the first check.
_ALPHABET = [*"0123456789.,-+eE []()<>/{}^_=\\:;ABCDabcxyz\n", "é", "\x00", "†"]
texts = st.text(alphabet=st.sampled_from(_ALPHABET), max_size=60) | st.text(max_size=40)
tags = st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "[", "]", "\\boxed{"])
completions = st.lists(texts | tags, max_size=8).map("".join) | texts.map(
    lambda text: f"<think>I check.</think><answer>{text}</answer>"
)
ground_truths: st.SearchStrategy[Any] = (
    texts
    | st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5)
    | st.lists(texts, max_size=3)
    | st.integers()
    | st.none()
    | st.just("[" * 3000 + "]" * 3000)  # a hostile ground truth that looks like an answer list
)


@FUZZ
@given(completions)
def test_extract_answer_returns_text_or_none(completion: str) -> None:
    answer = extract_answer(completion)
    assert answer is None or (isinstance(answer, str) and answer == answer.strip())


@FUZZ
@given(texts)
def test_number_option_and_box_parsers(text: str) -> None:
    number = parse_number(text)
    assert number is None or (isinstance(number, Decimal) and number.is_finite())
    letter = normalize_mcq(text)
    assert letter is None or (len(letter) == 1 and letter.isupper())
    box = parse_box(text)
    assert box is None or (box[0] < box[2] and box[1] < box[3])
    for reader in (boxes.first_box, boxes.last_box, boxes.exact_box, boxes.loose_box):
        found = reader(text)
        assert found is None or len(found) == 4
    found = boxes.json_box(text)
    assert found is None or all(math.isfinite(value) for value in found)


@FUZZ
@given(ground_truths)
def test_ground_truth_readers(answer: Any) -> None:
    references = reference_answers(answer)
    assert isinstance(references, list) and all(isinstance(text, str) for text in references)
    if isinstance(answer, str):
        parsed = parse_answer_list(answer)
        assert parsed is None or all(isinstance(text, str) for text in parsed)
    found = boxes.json_box(answer)
    assert found is None or all(math.isfinite(value) for value in found)


@FUZZ
@given(st.sampled_from(["digit", "mcq", "iou"]), completions, ground_truths)
def test_rule_rewards_are_in_range(reward_type: str, completion: str, answer: Any) -> None:
    reward = score(reward_type, completion, answer)
    assert reward is not None and 0.0 <= reward <= 1.0


@pytest.fixture(scope="module")
def quiet_math() -> Iterator[None]:
    logging.disable(logging.WARNING)  # Math-Verify warns on every timeout-less call
    yield
    logging.disable(logging.NOTSET)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(completions, texts)
def test_the_math_reward_is_in_range(quiet_math: None, completion: str, answer: str) -> None:
    reward = score("math", completion, answer)
    assert reward is not None and 0.0 <= reward <= 1.0
