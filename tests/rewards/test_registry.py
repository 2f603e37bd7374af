"""The verifier registry: one verifier per reward type, looked up by name; a torch-free import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vlaa import rewards
from vlaa.records import REWARD_TYPES
from vlaa.rewards import VERIFIERS, verifier


def test_every_reward_type_has_its_verifier() -> None:
    assert tuple(VERIFIERS) == REWARD_TYPES
    assert VERIFIERS["digit"] is rewards.score_digit
    assert VERIFIERS["mcq"] is rewards.score_mcq
    assert VERIFIERS["math"] is rewards.score_math
    assert VERIFIERS["iou"] is rewards.score_iou
    assert VERIFIERS["open"] is rewards.score_open
    assert all(verifier(name) is VERIFIERS[name] for name in REWARD_TYPES)


def test_an_unknown_verifier_is_named_with_the_known_ones() -> None:
    known = "digit, mcq, math, iou, open"
    with pytest.raises(ValueError, match=f"unknown verifier 'vibes'; known verifiers are: {known}"):
        verifier("vibes")


def test_the_registry_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        VERIFIERS["vibes"] = rewards.score_digit  # type: ignore[index]


def test_score_dispatches_through_the_registry() -> None:
    assert rewards.score("digit", "<answer>3.0</answer>", "3") == 1.0
    assert rewards.score("iou", "<answer>[0, 0, 2, 2]</answer>", [1, 1, 3, 3]) == pytest.approx(
        1 / 7
    )


def test_importing_the_rewards_loads_no_torch_transformers_or_trl() -> None:
    code = (
        "import sys, vlaa.rewards; "
        "print([m for m in ('torch', 'transformers', 'trl', 'sympy') if m in sys.modules])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
