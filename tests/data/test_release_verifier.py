"""The release importer's per-record verifier type and annotators' answer lists (DocVQA,
VizWiz), and how a list answer is kept and scored any-of down the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_release_import import THINK, read_rows, released, write_array

from vlaa import rewards
from vlaa.data.sources.release import GRPO_FILE, SFT_FILE
from vlaa.data.validation import _normalise_answer
from vlaa.records import Record
from vlaa.training.reward_router import RewardRouter


class LengthScorer:
    """A reward model whose score is the answer's length; records its batches."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, image: Any, question: str, answer: str) -> float:
        return float(len(answer))

    def score_batch(self, images: Any, questions: Any, answers: list[str]) -> list[float]:
        self.calls.append(list(answers))
        return [float(len(answer)) for answer in answers]


def _answer(text: str) -> str:
    return f"<think>I read the label.</think><answer>{text}</answer>"


def _prompt(question: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


DOCVQA = {"image": "docvqa/ffbf0023_4.png", "question": "What is the date?"}
VIZWIZ_ANSWERS = ["soup", "tomato soup", "soup can"]


@pytest.mark.parametrize(
    ("field", "value", "image", "reward_type"),
    [
        ("verifier_type", "digit", "clevr_math/CLEVR_train_1.png", "digit"),
        ("verifier_type", "MCQ", "geoqa170k/geoqa_plus-1.png", "mcq"),
        ("reward_type", "multiple_choice", "arxivqa/1.jpg", "mcq"),
        ("verifier", "bbox", "vg/VG_100K/12.jpg", "iou"),
        ("verifier_type", "open-ended", "docvqa/1.png", "open"),
    ],
)
def test_a_declared_verifier_that_agrees_is_the_reward_type(
    tmp_path: Path, field: str, value: str, image: str, reward_type: str
) -> None:
    gt = "[0.1, 0.2, 0.5, 0.6]" if reward_type == "iou" else "B"
    write_array(tmp_path / GRPO_FILE, [released(image=image, gt=gt, **{field: value})])
    (row,) = read_rows(tmp_path)
    assert row.problem is None
    assert row.data["reward_type"] == reward_type
    Record.model_validate(row.data)


@pytest.mark.parametrize(
    ("fields", "reason", "detail"),
    [
        ({"verifier_type": "mcq"}, "reward_type_mismatch", "contradicts image folder 'clevr_math'"),
        ({"reward_type": "iou"}, "reward_type_mismatch", "whose type is digit"),
        ({"verifier_type": "judge"}, "invalid_field", "verifier_type 'judge' names no verifier"),
        ({"verifier_type": 3}, "invalid_field", "names no verifier"),
    ],
)
def test_a_declared_verifier_that_contradicts_the_folder_is_quarantined(
    tmp_path: Path, fields: dict[str, Any], reason: str, detail: str
) -> None:
    write_array(tmp_path / GRPO_FILE, [released(id="bad", **fields), released(id="good")])
    bad, good = read_rows(tmp_path)
    assert bad.problem is not None
    assert bad.problem[0] == reason and detail in bad.problem[1]
    assert bad.data["id"] == "bad"
    assert good.problem is None and good.data["reward_type"] == "digit"


def test_verifier_type_wins_over_the_other_names(tmp_path: Path) -> None:
    record = released(verifier_type="digit", reward_type="mcq")
    write_array(tmp_path / GRPO_FILE, [record])
    (row,) = read_rows(tmp_path)
    assert row.problem is None and row.data["reward_type"] == "digit"


def test_annotator_answer_lists_are_kept_for_open(tmp_path: Path) -> None:
    docvqa = released(
        id="d", gt=["March 3, 1998", " 3/3/1998 "], ds_answer=f"{THINK}1998", **DOCVQA
    )
    vizwiz = released(id="v", image="vizwiz/VizWiz_train_00000001.jpg", gt=VIZWIZ_ANSWERS)
    write_array(tmp_path / SFT_FILE, [docvqa, vizwiz])
    first, second = read_rows(tmp_path)
    assert first.problem is None and second.problem is None
    assert first.data["answer"] == ["March 3, 1998", "3/3/1998"]
    assert first.data["reward_type"] == "open"
    assert "released_gt" not in first.data["meta"]
    record = Record.model_validate(second.data)
    assert record.answer == VIZWIZ_ANSWERS
    assert record.answers() == VIZWIZ_ANSWERS
    # The list survives a records.jsonl round trip and the dataset build's answer check.
    assert Record.model_validate_json(record.model_dump_json()).answer == VIZWIZ_ANSWERS
    assert _normalise_answer(record).answer == VIZWIZ_ANSWERS


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"gt": ["A"]}, "digit ground truth is a JSON list"),  # not open: a list is not allowed
        ({**DOCVQA, "gt": ["a", ""]}, "not a list of answers"),
        ({**DOCVQA, "gt": ["a", {"b": 1}]}, "not a list of answers"),
        ({**DOCVQA, "gt": ["a", True]}, "not a list of answers"),
    ],
)
def test_bad_answer_lists_stay_quarantined(
    tmp_path: Path, fields: dict[str, Any], detail: str
) -> None:
    write_array(tmp_path / SFT_FILE, [released(**fields)])
    (row,) = read_rows(tmp_path)
    assert row.problem is not None
    assert row.problem[0] == "invalid_answer" and detail in row.problem[1]


def test_a_list_answer_scores_any_of_with_the_open_verifier() -> None:
    # Better than the shortest reference ("soup", 4) by 2: the closest margin counts.
    reward = rewards.score(
        "open", _answer("tomato"), VIZWIZ_ANSWERS, scorer=LengthScorer(), beta=1.0
    )
    assert reward == pytest.approx(rewards.open_reward(6, 4, 1.0))
    assert rewards.score("open", _answer("soup"), "tomato soup", scorer=LengthScorer()) == 0.0


def test_grpo_rows_carry_the_list_and_the_router_scores_any_of() -> None:
    record = Record(
        id="v",
        source="vizwiz",
        image="vizwiz/1.jpg",
        question="What is in the can?",
        answer=VIZWIZ_ANSWERS,
        reward_type="open",
    )
    text = record.answer_text()  # what grpo_dataset puts in the row's "answer" column
    assert rewards.reference_answers(text) == VIZWIZ_ANSWERS
    assert rewards.reference_answers("[not json") == ["[not json"]
    scorer = LengthScorer()
    scores = RewardRouter(scorer=scorer, open_beta=1.0)(
        prompts=[_prompt("What is in the can?")],
        completions=[_answer("tomato")],
        answer=[text],
        reward_type=["open"],
        image=[None],
    )
    assert scores == [pytest.approx(rewards.open_reward(6, 4, 1.0))]
    (scored,) = scorer.calls
    assert sorted(scored) == sorted(["tomato", *VIZWIZ_ANSWERS])
