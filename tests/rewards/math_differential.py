"""One differential check shared by the math tests: a fast path against plain Math-Verify."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from vlaa.rewards import _math_parse, _score_math_verify, score_math

Parse = Callable[[str, Any], Any]
Decide = Callable[[Any, Any], bool | None]


def differential(
    pairs: Iterable[tuple[str, str]], parse_gold: Parse, decide: Decide
) -> tuple[int, int, int]:
    """(pairs, pairs ``decide`` settled, pairs scored 1): every verdict ``decide`` gives, and
    ``score_math``'s for every pair, must equal plain Math-Verify's."""
    n = decided = ones = 0
    for predicted, gold in pairs:
        n += 1
        expected = _score_math_verify(predicted, gold)
        ones += expected == 1.0
        gold_parsed, predicted_parsed = parse_gold(gold, None), _math_parse(predicted, None)
        if gold_parsed and predicted_parsed:
            verdict = decide(gold_parsed, predicted_parsed)
            if verdict is not None:
                decided += 1
                assert float(verdict) == expected, (predicted, gold)
        assert score_math(predicted, gold) == expected, (predicted, gold)
    return n, decided, ones
