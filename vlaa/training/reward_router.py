"""GRPO rewards for TRL: each sample is scored by the verifier its ``reward_type`` names.

TRL calls a reward function with ``prompts``, ``completions`` and every extra dataset column as a
list (one entry per completion): ``answer``, ``reward_type`` and ``image`` from
``vlaa.training.datasets.grpo_dataset``, plus ``log_metric``. ``RewardRouter.reward_funcs`` gives
TRL one function per verifier in use, each scoring its own type's samples and returning ``None``
for the others; TRL then logs each function's mean and std itself. Rule-based types are scored
one by one; ``open`` samples of a step are scored together, in one reward-model phase.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from vlaa import rewards
from vlaa.rewards import OpenScorer

# What GRPOTrainer calls: (prompts=, completions=, <dataset columns>=, ...) -> one reward each.
RewardFunc = Callable[..., list[float | None]]


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


def _last_user_message(prompt: Any) -> dict[str, Any] | None:
    if isinstance(prompt, str):
        return None
    for message in reversed(prompt):
        if message.get("role") == "user":
            return message
    return None


def question_text(prompt: Any) -> str:
    """The text of the prompt's last user turn (a plain-text prompt is returned whole)."""
    if isinstance(prompt, str):
        return prompt
    message = _last_user_message(prompt)
    if message is None:
        return ""
    content = message.get("content", "")
    if isinstance(content, str):
        return content.strip()
    texts = [p.get("text", "") for p in content if p.get("type") == "text"]
    return "\n".join(t for t in texts if t).strip()


def _prompt_image(prompt: Any) -> Any:
    # TRL injects the dataset image into the prompt's image part before calling us.
    message = _last_user_message(prompt)
    if message is None or isinstance(message.get("content"), str):
        return None
    for part in message.get("content", []):
        if part.get("type") == "image" and part.get("image") is not None:
            return part["image"]
    return None


def _sample_images(prompts: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
    """One image per sample: the ``image`` column, the first of ``images``, or the prompt's."""
    if kwargs.get("image") is not None:
        return list(kwargs["image"])
    if kwargs.get("images") is not None:
        return [images[0] if images else None for images in kwargs["images"]]
    return [_prompt_image(prompt) for prompt in prompts]


def _ground_truth(reward_type: str, answer: str) -> Any:
    # Boxes travel through the dataset as text; the iou verifier wants the four numbers.
    # A split written by hand may hold anything: the verifier reads the text itself then, and a
    # malformed box scores 0 (vlaa.rewards.iou) instead of stopping training.
    if reward_type == "iou":
        try:
            return json.loads(answer)
        except (ValueError, RecursionError):
            return answer
    return answer


def _same_image(a: Any, b: Any) -> bool:
    if a is b:
        return True
    from PIL import Image

    if isinstance(a, Image.Image) and isinstance(b, Image.Image):
        return a == b  # mode, size and pixels; far cheaper than a reward-model forward
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


class _UniqueItems:
    """(image, question, answer) triples to score, each distinct one once.

    TRL repeats each prompt ``num_generations`` times, so the reference answer of a group (and
    any repeated completion) would otherwise be scored several times per step. The reward model
    is assumed to be a deterministic function of its inputs.
    """

    def __init__(self) -> None:
        self.images: list[Any] = []
        self.questions: list[str] = []
        self.answers: list[str] = []
        self._by_text: dict[tuple[str, str], list[int]] = defaultdict(list)

    def add(self, image: Any, question: str, answer: str) -> int:
        candidates = self._by_text[(question, answer)]
        for index in candidates:
            if _same_image(self.images[index], image):
                return index
        index = len(self.answers)
        candidates.append(index)
        self.images.append(image)
        self.questions.append(question)
        self.answers.append(answer)
        return index


class RewardRouter:
    """Dispatches each completion to its verifier; hands TRL one reward function per verifier.

    ``enabled_types`` restricts scoring (samples of other types get ``None``, which TRL skips).
    ``scorer`` is the reward model of the ``open`` type (without one, ``open`` samples get
    ``None``) and ``open_beta`` the beta of its formula (``vlaa.rewards.open_reward``). A scorer
    with ``score_batch`` scores all ``open`` samples of a call in one batch, inside its
    ``scoring_phase()`` if it has one (the model visits the accelerator once per step); any
    other scorer is called per sample.

    ``reward_funcs`` is what GRPOTrainer gets. Calling the router itself scores a mixed batch in
    one call and, given ``log_metric``, logs each type's mean and population std.
    """

    __name__ = "mixed_reward"

    def __init__(
        self,
        enabled_types: tuple[str, ...] = rewards.REWARD_TYPES,
        scorer: OpenScorer | None = None,
        open_beta: float = 1.0,
    ) -> None:
        unknown = set(enabled_types) - set(rewards.REWARD_TYPES)
        if unknown:
            raise ValueError(
                f"unknown reward types {sorted(unknown)}; valid: {', '.join(rewards.REWARD_TYPES)}"
            )
        if not (math.isfinite(open_beta) and open_beta > 0):
            raise ValueError(f"open_beta must be a positive finite number, got {open_beta!r}")
        self.enabled_types = enabled_types
        self.scorer = scorer
        self.open_beta = float(open_beta)

    def reward_funcs(self, present_types: Iterable[str]) -> list[RewardFunc]:
        """One TRL reward function per verifier in use, in ``enabled_types`` order.

        In use: enabled, held by ``present_types`` (the RL split's types), and able to score:
        ``open`` only with a scorer. A sample no function scores gets ``None`` from every one,
        so TRL leaves it unscored, as when one function returned ``None`` for it. With none in
        use the router itself goes (all ``None``): TRL 1.16 refuses an empty list ("No reward
        source provided" in ``GRPOTrainer.__init__``), and that is how such a run went before.
        """
        present = set(present_types)
        funcs: list[RewardFunc] = [
            VerifierReward(self, kind)
            for kind in dict.fromkeys(self.enabled_types)  # a repeated type would count twice
            if kind in present and (kind != "open" or self.scorer is not None)
        ]
        return funcs or [self]

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        answer: list[str],
        reward_type: list[str],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        scores = self.score_types(
            self.enabled_types, prompts, completions, answer, reward_type, **kwargs
        )
        if log_metric is not None:
            self._log(scores, reward_type, log_metric)
        return scores

    def score_types(
        self,
        kinds: Collection[str],
        prompts: list[Any],
        completions: list[Any],
        answer: list[str],
        reward_type: list[str],
        **kwargs: Any,
    ) -> list[float | None]:
        """Rewards of the samples whose enabled type is in ``kinds``; ``None`` for the others."""
        scores: list[float | None] = [None] * len(completions)
        open_samples: list[int] = []
        for i, (completion, truth, kind) in enumerate(
            zip(completions, answer, reward_type, strict=True)
        ):
            if kind not in kinds or kind not in self.enabled_types:
                continue
            if kind == "open":
                open_samples.append(i)
                continue
            scores[i] = rewards.score(kind, completion_text(completion), _ground_truth(kind, truth))
        if open_samples and self.scorer is not None:
            images = _sample_images(prompts, kwargs)
            if hasattr(self.scorer, "score_batch"):
                self._score_open_batched(open_samples, prompts, completions, answer, images, scores)
            else:
                for i in open_samples:
                    scores[i] = rewards.score(
                        "open",
                        completion_text(completions[i]),
                        answer[i],
                        scorer=self.scorer,
                        beta=self.open_beta,
                        image=images[i],
                        question=question_text(prompts[i]),
                    )
        return scores

    def _score_open_batched(
        self,
        samples: list[int],
        prompts: list[Any],
        completions: list[Any],
        answer: list[str],
        images: list[Any],
        scores: list[float | None],
    ) -> None:
        """``vlaa.rewards.score("open", ...)`` for every sample, with one ``score_batch`` call."""
        items = _UniqueItems()
        pairs: dict[int, tuple[int, list[int]]] = {}
        for i in samples:
            predicted = rewards.extract_answer(completion_text(completions[i]))
            if not predicted:  # no or empty <answer>: the implicit format reward
                scores[i] = 0.0
                continue
            question = question_text(prompts[i])
            # Any-of answers (annotators' lists) travel as JSON text; the best margin counts.
            references = rewards.reference_answers(answer[i])
            pairs[i] = (
                items.add(images[i], question, predicted),
                [items.add(images[i], question, text) for text in references],
            )
        if not pairs:
            return
        phase = getattr(self.scorer, "scoring_phase", None)
        with phase() if callable(phase) else contextlib.nullcontext():
            values = self.scorer.score_batch(items.images, items.questions, items.answers)
        if len(values) != len(items.answers):
            raise RuntimeError(
                f"open scorer returned {len(values)} scores for {len(items.answers)} answers"
            )
        for i, (predicted_at, references_at) in pairs.items():
            scores[i] = max(
                rewards.open_reward(float(values[predicted_at]), float(values[at]), self.open_beta)
                for at in references_at
            )

    @staticmethod
    def _log(
        scores: list[float | None],
        reward_type: list[str],
        log_metric: Callable[[str, float], None],
    ) -> None:
        by_type: dict[str, list[float]] = defaultdict(list)
        for value, kind in zip(scores, reward_type, strict=True):
            if value is not None and not math.isnan(value):
                by_type[kind].append(value)
        for kind, values in by_type.items():
            mean = sum(values) / len(values)
            # Population std: the spread of this batch's rewards, the signal GRPO normalises.
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            log_metric(f"rewards/{kind}/mean", mean)
            log_metric(f"rewards/{kind}/std", std)


class VerifierReward:
    """GRPOTrainer's reward function for one verifier: its type's rewards, ``None`` elsewhere.

    TRL 1.16 (trl/trainer/grpo_trainer.py) names a callable by its ``__name__``
    (``get_callable_name``), turns each ``None`` it returns into NaN (``_calculate_rewards``) and
    logs ``rewards/<name>/mean`` and ``rewards/<name>/std`` as ``nanmean`` / ``nanstd`` over the
    samples it scored, gathered from every process (``nanstd`` is the sample std; our
    ``log_metric`` one was the population std). A type absent from a whole logging window is
    logged as ``None``. With the default ``sum_then_normalize`` and weights of 1, a sample's
    reward is the ``nansum`` of its row, which is its one verifier's reward (each sample has one
    type); a row of NaNs stays unscored (advantage 0). TRL's ``reward`` / ``reward_std`` are
    over those summed rewards: the same as with one router function. Named by reward type, the
    functions give exactly the keys the rest of the code reads, so nothing is translated.
    """

    def __init__(self, router: RewardRouter, kind: str) -> None:
        self.router = router
        self.kind = kind
        self.__name__ = kind

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        answer: list[str],
        reward_type: list[str],
        **kwargs: Any,
    ) -> list[float | None]:
        # TRL's ``log_metric`` (in kwargs) goes unused: TRL logs this function's stats itself.
        return self.router.score_types(
            (self.kind,), prompts, completions, answer, reward_type, **kwargs
        )
