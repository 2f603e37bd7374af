"""One reward function for TRL's GRPOTrainer that scores each sample by its ``reward_type``."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from vlaa import rewards


def completion_text(completion: Any) -> str:
    """TRL passes conversational completions as message lists, plain ones as strings."""
    if isinstance(completion, str):
        return completion
    parts: list[str] = []
    for message in completion:
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(p.get("text", "") for p in content if p.get("type") == "text")
    return "".join(parts)


def _ground_truth(reward_type: str, answer: str) -> Any:
    # Boxes travel through the dataset as text; the iou verifier wants the four numbers.
    if reward_type == "iou":
        return json.loads(answer)
    return answer


class RewardRouter:
    """Dispatches each completion to its verifier; logs the mean reward per reward type.

    ``enabled_types`` restricts scoring (samples of other types get ``None``, which TRL skips);
    ``context`` is passed to every verifier (e.g. ``scorer=`` for ``open``).
    """

    __name__ = "mixed_reward"

    def __init__(
        self,
        enabled_types: tuple[str, ...] = rewards.REWARD_TYPES,
        **context: Any,
    ) -> None:
        unknown = set(enabled_types) - set(rewards.REWARD_TYPES)
        if unknown:
            raise ValueError(
                f"unknown reward types {sorted(unknown)}; valid: {', '.join(rewards.REWARD_TYPES)}"
            )
        self.enabled_types = enabled_types
        self.context = context

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        answer: list[str],
        reward_type: list[str],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        scores: list[float | None] = []
        by_type: dict[str, list[float]] = defaultdict(list)
        for completion, truth, kind in zip(completions, answer, reward_type, strict=True):
            if kind not in self.enabled_types:
                scores.append(None)
                continue
            value = rewards.score(
                kind, completion_text(completion), _ground_truth(kind, truth), **self.context
            )
            scores.append(value)
            if value is not None and not math.isnan(value):
                by_type[kind].append(value)
        if log_metric is not None:
            for kind, values in by_type.items():
                log_metric(f"rewards/{kind}/mean", sum(values) / len(values))
        return scores
