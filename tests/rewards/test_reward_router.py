"""The GRPO reward router with a reward model for ``open``: per-sample image and question, one
batched scoring phase per step, per-type mean and std."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fixtures.tiny_reward_model import make_tiny_reward_model
from PIL import Image

from vlaa import rewards
from vlaa.records import REWARD_TYPES
from vlaa.reward_models import (
    RewardModelError,
    SequenceClassificationScorer,
)
from vlaa.training.reward_router import RewardRouter, question_text

RED = Image.new("RGB", (4, 4), "red")
BLUE = Image.new("RGB", (4, 4), "blue")


def _answer(text: str) -> str:
    return f"<think>I look at the image.</think><answer>{text}</answer>"


def _prompt(question: str, image: Any = None) -> list[dict[str, Any]]:
    """A prompt as TRL hands it to reward functions: the image injected into its part."""
    return [
        {"role": "system", "content": [{"type": "text", "text": "Think first."}]},
        {
            "role": "user",
            "content": [
                {"type": "image", "image": image},
                {"type": "text", "text": question},
            ],
        },
    ]


class BatchScorer:
    """Scores len(answer) + 10 * (image is BLUE); records calls and phases."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], list[str], list[str]]] = []
        self.phases = 0
        self.in_phase = False

    @contextlib.contextmanager
    def scoring_phase(self) -> Iterator[None]:
        self.phases += 1
        self.in_phase = True
        yield
        self.in_phase = False

    def __call__(self, image: Any, question: str, answer: str) -> float:
        return len(answer) + (10.0 if image is BLUE else 0.0)

    def score_batch(
        self, images: Sequence[Any], questions: Sequence[str], answers: Sequence[str]
    ) -> list[float]:
        assert self.in_phase, "score_batch must run inside the scoring phase"
        self.calls.append((list(images), list(questions), list(answers)))
        return [self(i, q, a) for i, q, a in zip(images, questions, answers, strict=True)]


def test_open_samples_are_scored_in_one_batch_and_one_phase() -> None:
    scorer = BatchScorer()
    router = RewardRouter(scorer=scorer, open_beta=0.5)
    completions = [_answer("a big dog"), _answer("3"), _answer("dog"), "no tags", _answer("")]
    answer = ["a cat", "3", "a cat", "a cat", "a cat"]
    kinds = ["open", "digit", "open", "open", "open"]
    prompts = [_prompt("What is it?", RED)] * 5
    scores = router(
        prompts=prompts, completions=completions, answer=answer, reward_type=kinds, image=[RED] * 5
    )
    assert scorer.phases == 1 and len(scorer.calls) == 1
    assert scores[0] == pytest.approx(rewards.open_reward(9, 5, 0.5))
    assert scores[1] == 1.0  # other types keep their verifier
    assert scores[2] == 0.0  # worse than the reference
    assert scores[3:] == [0.0, 0.0]  # no / empty <answer>: never sent to the reward model
    images, questions, answers = scorer.calls[0]
    assert images == [RED] * len(answers)
    assert questions == ["What is it?"] * len(answers)
    assert sorted(answers) == ["a big dog", "a cat", "dog"]  # the reference once


def test_batched_rewards_equal_per_sample_rewards() -> None:
    completions = [_answer(t) for t in ("blue", "a blue cube", "no", "it is blue", "blue")]
    answer = ["blue", "blue", "red cube", "red cube", "blue"]
    kinds = ["open"] * 5
    images = [RED, BLUE, RED, BLUE, BLUE]
    prompts = [_prompt(f"Q{i}?", image) for i, image in enumerate(images)]
    batched = RewardRouter(scorer=BatchScorer())(
        prompts=prompts, completions=completions, answer=answer, reward_type=kinds, image=images
    )
    expected = [
        rewards.score(
            "open", c, a, scorer=BatchScorer(), image=image, question=question_text(p), beta=1.0
        )
        for c, a, image, p in zip(completions, answer, images, prompts, strict=True)
    ]
    assert batched == expected
    assert batched[3] is not None and batched[3] > 0.0  # a different image, a different score


def test_group_repeats_are_scored_once() -> None:
    # TRL repeats each prompt num_generations times; images arrive as equal, distinct objects.
    scorer = BatchScorer()
    images = [Image.new("RGB", (4, 4), "red") for _ in range(4)]
    RewardRouter(scorer=scorer)(
        prompts=[_prompt("Q?")] * 4,
        completions=[_answer("x"), _answer("yy"), _answer("x"), _answer("zzz")],
        answer=["ref"] * 4,
        reward_type=["open"] * 4,
        image=images,
    )
    (_, _, answers), *_ = scorer.calls
    assert sorted(answers) == ["ref", "x", "yy", "zzz"]


def test_a_scorer_without_score_batch_gets_per_sample_image_and_question() -> None:
    seen: list[tuple[Any, str, str]] = []

    def scorer(image: Any, question: str, text: str) -> float:
        seen.append((image, question, text))
        return float(len(text))

    scores = RewardRouter(scorer=scorer)(
        prompts=[_prompt("First?", RED), _prompt("Second?", BLUE)],
        completions=[_answer("longer answer"), _answer("s")],
        answer=["short", "ref"],
        reward_type=["open", "open"],
        image=[RED, BLUE],
    )
    assert scores[0] is not None and 0.0 < scores[0] < 1.0
    assert scores[1] == 0.0
    assert seen == [
        (RED, "First?", "longer answer"),
        (RED, "First?", "short"),
        (BLUE, "Second?", "s"),
        (BLUE, "Second?", "ref"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "prompt_images", "expected"),
    [
        ({"image": [RED, BLUE]}, [None, None], [RED, BLUE]),
        ({"images": [[BLUE], []]}, [None, None], [BLUE, None]),
        ({}, [BLUE, RED], [BLUE, RED]),  # no image column: the image TRL put in the prompt
    ],
)
def test_images_come_from_the_columns_or_the_prompt(
    kwargs: dict[str, Any], prompt_images: list[Any], expected: list[Any]
) -> None:
    scorer = BatchScorer()
    RewardRouter(scorer=scorer)(
        prompts=[_prompt("A?", prompt_images[0]), _prompt("B?", prompt_images[1])],
        completions=[_answer("x"), _answer("y")],
        answer=["ref-a", "ref-b"],
        reward_type=["open", "open"],
        **kwargs,
    )
    images, questions, answers = scorer.calls[0]
    by_answer = {a: (i, q) for i, q, a in zip(images, questions, answers, strict=True)}
    assert by_answer["x"] == (expected[0], "A?")
    assert by_answer["y"] == (expected[1], "B?")


def test_question_is_the_text_of_the_last_user_turn() -> None:
    prompt = [
        {"role": "user", "content": "earlier turn"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " Q? "}]},
    ]
    assert question_text(prompt) == "Q?"
    assert question_text([{"role": "user", "content": "plain"}]) == "plain"
    assert question_text("a plain-text prompt") == "a plain-text prompt"
    assert question_text([{"role": "system", "content": "s"}]) == ""


def test_open_is_none_without_scorer_or_when_not_enabled() -> None:
    kwargs: dict[str, Any] = dict(
        prompts=[_prompt("Q?")] * 2,
        completions=[_answer("a"), _answer("3")],
        answer=["b", "3"],
        reward_type=["open", "digit"],
    )
    assert RewardRouter()(**kwargs) == [None, 1.0]
    scorer = BatchScorer()
    assert RewardRouter(enabled_types=("digit",), scorer=scorer)(**kwargs) == [None, 1.0]
    assert scorer.calls == [] and scorer.phases == 0


def test_no_open_answers_no_scoring_phase() -> None:
    scorer = BatchScorer()
    scores = RewardRouter(scorer=scorer)(
        prompts=[_prompt("Q?")] * 2,
        completions=["no tags", _answer("[0.1, 0.2, 0.5, 0.6]")],
        answer=["b", json.dumps([0.1, 0.2, 0.5, 0.6])],
        reward_type=["open", "iou"],
    )
    assert scores == [0.0, pytest.approx(1.0)]
    assert scorer.phases == 0  # the reward model stays on the CPU


def test_reward_model_errors_propagate() -> None:
    class Broken(BatchScorer):
        def score_batch(self, *args: Any) -> list[float]:
            raise RewardModelError("reward model down")

    router = RewardRouter(scorer=Broken())
    with pytest.raises(RewardModelError, match="down"):
        router(
            prompts=[_prompt("Q?")], completions=[_answer("a")], answer=["b"], reward_type=["open"]
        )


def test_a_short_score_list_is_an_error() -> None:
    class Short(BatchScorer):
        def score_batch(self, *args: Any) -> list[float]:
            return [1.0]

    router = RewardRouter(scorer=Short())
    with pytest.raises(RuntimeError, match="1 scores for 2 answers"):
        router(
            prompts=[_prompt("Q?")], completions=[_answer("a")], answer=["b"], reward_type=["open"]
        )


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf")])
def test_open_beta_must_be_positive_and_finite(beta: float) -> None:
    with pytest.raises(ValueError, match="open_beta"):
        RewardRouter(open_beta=beta)


def test_mean_and_population_std_are_logged_per_type() -> None:
    logged: dict[str, float] = {}
    RewardRouter(scorer=BatchScorer())(
        prompts=[_prompt("Q?")] * 5,
        completions=[_answer("1"), _answer("2"), _answer("4"), _answer("A"), "no tags"],
        answer=["1", "1", "4", "A", "ref"],
        reward_type=["digit", "digit", "digit", "mcq", "open"],
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    assert logged["rewards/digit/mean"] == pytest.approx(2 / 3)
    assert logged["rewards/digit/std"] == pytest.approx((2 / 9) ** 0.5)  # population, not sample
    assert logged["rewards/mcq/mean"] == 1.0 and logged["rewards/mcq/std"] == 0.0
    assert logged["rewards/open/mean"] == 0.0 and logged["rewards/open/std"] == 0.0
    assert len(logged) == 6


@pytest.fixture(scope="module")
def tiny_scorer(tmp_path_factory: pytest.TempPathFactory) -> SequenceClassificationScorer:
    directory = make_tiny_reward_model(tmp_path_factory.mktemp("rm") / "model", seed=0)
    return SequenceClassificationScorer(directory)


def test_router_with_the_tiny_reward_model(tiny_scorer: SequenceClassificationScorer) -> None:
    completions = [_answer(t) for t in ("blue", "a red cube", "green", "red")]
    answer = ["red", "red", "a small cube", "red"]
    prompts = [_prompt("What colour is the cube?", RED)] * 4
    scores = RewardRouter(scorer=tiny_scorer, open_beta=2.0)(
        prompts=prompts, completions=completions, answer=answer, reward_type=["open"] * 4
    )
    per_sample = [
        rewards.score(
            "open", c, a, scorer=tiny_scorer.__call__, beta=2.0, question=question_text(p)
        )
        for c, a, p in zip(completions, answer, prompts, strict=True)
    ]
    assert all(s is not None and 0.0 <= s < 1.0 for s in scores)
    assert scores == pytest.approx(per_sample, abs=1e-5)
    assert scores[3] == 0.0  # the reference itself has no margin
    assert next(tiny_scorer.model.parameters()).device.type == "cpu"


# ----------------------------------------------------------------------------- TRL's reward hooks

MIXED: dict[str, Any] = dict(
    prompts=[_prompt("Q?", RED)] * 6,
    completions=[*map(_answer, ("1", "2", "A", "a big dog")), "no tags", _answer("x")],
    answer=["1", "1", "A", "a cat", "ref", "3"],
    reward_type=["digit", "digit", "mcq", "open", "open", "math"],
    image=[RED] * 6,
)


def test_one_reward_function_per_verifier_in_use_named_by_its_type() -> None:
    from trl.trainer.utils import get_callable_name

    router = RewardRouter(scorer=BatchScorer())
    funcs = router.reward_funcs({"digit", "mcq", "open"})
    assert [get_callable_name(f) for f in funcs] == ["digit", "mcq", "open"]  # TRL's log names
    # Not enabled, not in the split, or no scorer for open: not in use.
    assert [f.__name__ for f in RewardRouter(("mcq", "open")).reward_funcs(REWARD_TYPES)] == ["mcq"]
    repeated = RewardRouter(("digit", "digit"))  # twice would count each digit reward twice
    assert [f.__name__ for f in repeated.reward_funcs(["digit"])] == ["digit"]


def test_with_no_verifier_in_use_trl_gets_the_router_which_scores_nothing() -> None:
    router = RewardRouter(("digit",))
    assert router.reward_funcs({"open", "mcq"}) == [router]
    assert router(**MIXED)[2:] == [None] * 4


def test_each_function_scores_its_type_and_none_elsewhere() -> None:
    router = RewardRouter(scorer=BatchScorer(), open_beta=0.5)
    mixed = router(**MIXED)
    funcs = router.reward_funcs(MIXED["reward_type"])
    by_type = {f.__name__: f(**MIXED, log_metric=None) for f in funcs}
    assert by_type.keys() == {"digit", "mcq", "math", "open"}
    for kind, scores in by_type.items():
        for score, sample_type, expected in zip(scores, MIXED["reward_type"], mixed, strict=True):
            assert score == (expected if sample_type == kind else None), kind


def test_trl_nansum_of_the_functions_is_the_routers_reward() -> None:
    """GRPOTrainer (TRL 1.16, sum_then_normalize, weights 1) sums each row with nansum."""
    import dataclasses

    import torch
    from trl import GRPOConfig

    defaults = {field.name: field.default for field in dataclasses.fields(GRPOConfig)}
    assert defaults["multi_objective_aggregation"] == "sum_then_normalize"
    assert defaults["reward_weights"] is None  # each function weighs 1
    router = RewardRouter(scorer=BatchScorer())
    columns = [f(**MIXED) for f in router.reward_funcs(REWARD_TYPES)]
    per_func = torch.tensor(
        [[torch.nan if s is None else s for s in column] for column in columns]
    ).T
    assert per_func.nansum(dim=1).tolist() == pytest.approx(router(**MIXED))


def test_the_open_function_scores_a_step_in_one_phase() -> None:
    scorer = BatchScorer()
    for func in RewardRouter(scorer=scorer).reward_funcs(REWARD_TYPES):
        func(**MIXED)
    assert scorer.phases == 1 and len(scorer.calls) == 1
    assert sorted(scorer.calls[0][2]) == ["a big dog", "a cat"]


def test_the_functions_leave_logging_to_trl() -> None:
    logged: dict[str, float] = {}
    for func in RewardRouter(scorer=BatchScorer()).reward_funcs(REWARD_TYPES):
        func(**MIXED, log_metric=lambda name, value: logged.__setitem__(name, value))
    assert logged == {}  # TRL logs rewards/<type>/mean and /std under each function's name


def test_a_malformed_or_deeply_nested_iou_truth_scores_zero_instead_of_stopping_training() -> None:
    completions = [_answer("[0.1, 0.1, 0.5, 0.5]")] * 3
    answer = ["[0.1, 0.1, 0.5, 0.5]", "[" * 100_000, "not a box"]
    scores = RewardRouter()(
        prompts=[_prompt("Where?")] * 3,
        completions=completions,
        answer=answer,
        reward_type=["iou"] * 3,
    )
    assert scores == [1.0, 0.0, 0.0]
