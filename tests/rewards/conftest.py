"""Fixtures of the reward tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from vlaa.rewards import clear_math_caches


@pytest.fixture
def quiet_cold_math() -> Iterator[None]:
    """Math-Verify warns on every timeout-less call; each test starts with cold math caches."""
    logging.disable(logging.WARNING)
    clear_math_caches()
    yield
    logging.disable(logging.NOTSET)
