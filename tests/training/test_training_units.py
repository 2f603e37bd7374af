"""Units the training steps share: batch arithmetic, the reward router, datasets, stage events,
run parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import BaseModel, ConfigDict

from vlaa.errors import ConfigError, UserError
from vlaa.parameters import (
    ParameterError,
    RunParameters,
    load_parameter_file,
    merge,
    validate_parameters,
)
from vlaa.records import read_records
from vlaa.stages import EVENTS_ENV, read_events, stage
from vlaa.training.common import gradient_accumulation
from vlaa.training.config import GRPOStepConfig
from vlaa.training.datasets import grpo_dataset, load_split, sft_dataset
from vlaa.training.grpo import reward_summary, trl_batch_args
from vlaa.training.reward_router import RewardRouter, completion_text

BOX = [0.1, 0.2, 0.5, 0.6]


@pytest.fixture
def one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)


def _answer(text: str, thinking: str = "I look at the image.") -> str:
    return f"<think>{thinking}</think><answer>{text}</answer>"


# ----------------------------------------------------------------------------- batch arithmetic


@pytest.mark.usefixtures("one_process")
@pytest.mark.parametrize(
    ("global_batch", "per_device", "expected"), [(128, 4, 32), (16, 16, 1), (256, 8, 32)]
)
def test_gradient_accumulation_on_one_process(
    global_batch: int, per_device: int, expected: int
) -> None:
    assert gradient_accumulation(global_batch, per_device) == expected


def test_gradient_accumulation_divides_by_the_process_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert gradient_accumulation(128, 4) == 4


@pytest.mark.usefixtures("one_process")
def test_gradient_accumulation_refuses_a_global_batch_it_cannot_reach() -> None:
    with pytest.raises(ConfigError, match=r"sft: global batch 10 is not a multiple of .* 4"):
        gradient_accumulation(10, 4, "sft: ")


@pytest.mark.usefixtures("one_process")
def test_trl_batch_args_for_the_paper_defaults() -> None:
    config = GRPOStepConfig()
    assert (config.rollout_batch_prompts, config.num_generations) == (512, 4)
    assert (config.train_batch_completions, config.per_device_batch_size) == (256, 8)
    assert trl_batch_args(config) == {
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 32,
        "steps_per_generation": 256,
    }


def test_trl_batch_args_on_eight_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "8")
    args = trl_batch_args(GRPOStepConfig())
    assert args["gradient_accumulation_steps"] == 4
    assert args["steps_per_generation"] == 32


@pytest.mark.usefixtures("one_process")
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rollout_batch_prompts": 3, "train_batch_completions": 8}, "rollout of 12 completions"),
        ({"per_device_batch_size": 7}, "global batch 256 is not a multiple"),
    ],
)
def test_trl_batch_args_refuses_sizes_that_do_not_divide(
    fields: dict[str, int], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        trl_batch_args(GRPOStepConfig(**fields))


# ----------------------------------------------------------------------------- reward router


def test_router_scores_each_sample_by_its_reward_type() -> None:
    router = RewardRouter()
    completions = [
        _answer("3"),
        _answer("2"),
        _answer("B"),
        _answer("[0.1, 0.2, 0.5, 0.6]"),
        _answer("a red cube"),
        "no tags at all",
    ]
    answer = ["3", "3", "B", json.dumps(BOX), "a red cube", "C"]
    kinds = ["digit", "digit", "mcq", "iou", "open", "mcq"]
    scores = router(prompts=[""] * 6, completions=completions, answer=answer, reward_type=kinds)
    assert scores[:3] == [1.0, 0.0, 1.0]
    assert scores[3] == pytest.approx(1.0)
    assert scores[4] is None  # no scorer for open answers configured
    assert scores[5] == 0.0  # no <answer>: the implicit format reward


def test_router_scores_a_partly_overlapping_box_by_iou() -> None:
    scores = RewardRouter()(
        prompts=[""],
        completions=[_answer("[0.1, 0.2, 0.3, 0.6]")],
        answer=["[0.100, 0.200, 0.500, 0.600]"],  # Record.answer_text() of a box
        reward_type=["iou"],
    )
    assert scores[0] == pytest.approx(0.5)


def test_router_uses_the_open_scorer_from_its_context() -> None:
    def scorer(image: Any, question: str, text: str) -> float:
        return float(len(text))

    scores = RewardRouter(scorer=scorer)(
        prompts=[""],
        completions=[_answer("a much longer answer")],
        answer=["short"],
        reward_type=["open"],
    )
    assert scores[0] is not None and 0.0 < scores[0] < 1.0


def test_router_leaves_types_that_are_not_enabled_unscored() -> None:
    router = RewardRouter(enabled_types=("digit",))
    scores = router(
        prompts=["", ""],
        completions=[_answer("3"), _answer("A")],
        answer=["3", "A"],
        reward_type=["digit", "mcq"],
    )
    assert scores == [1.0, None]


def test_router_refuses_unknown_reward_types() -> None:
    with pytest.raises(ValueError, match="unknown reward types"):
        RewardRouter(enabled_types=("digit", "vibes"))


def test_router_logs_the_mean_reward_per_type() -> None:
    logged: dict[str, float] = {}

    def log_metric(name: str, value: float) -> None:
        logged[name] = value

    RewardRouter()(
        prompts=[""] * 5,
        completions=[_answer("1"), _answer("2"), _answer("A"), _answer("x"), _answer("y")],
        answer=["1", "1", "A", "x", "y"],
        reward_type=["digit", "digit", "mcq", "open", "open"],
        log_metric=log_metric,
    )
    assert logged == {
        "rewards/digit/mean": 0.5,
        "rewards/digit/std": 0.5,
        "rewards/mcq/mean": 1.0,
        "rewards/mcq/std": 0.0,
    }


def test_router_reads_conversational_completions() -> None:
    completions = [
        [{"role": "assistant", "content": _answer("4")}],
        [{"role": "assistant", "content": [{"type": "text", "text": _answer("C")}]}],
    ]
    scores = RewardRouter()(
        prompts=[[], []], completions=completions, answer=["4", "C"], reward_type=["digit", "mcq"]
    )
    assert scores == [1.0, 1.0]
    assert completion_text(completions[1]) == _answer("C")
    assert completion_text("plain") == "plain"


def test_router_has_a_name_for_trl_logs() -> None:
    assert RewardRouter().__name__ == "mixed_reward"


def test_reward_summary_averages_first_and_last_windows() -> None:
    log = [{"step": i, "reward": r} for i, r in enumerate([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])]
    log.insert(2, {"step": 99, "loss": 1.0})
    assert reward_summary(log, window=2) == {"reward_first": 0.1, "reward_last": 0.9}
    assert reward_summary(log[:1], window=5) == {"reward_first": 0.0, "reward_last": 0.0}
    assert reward_summary([{"loss": 1.0}]) == {"reward_first": None, "reward_last": None}


# ----------------------------------------------------------------------------- datasets


def test_sft_dataset_has_prompt_completion_and_loadable_images(
    tiny_dataset: dict[str, Path],
) -> None:
    dataset = sft_dataset(tiny_dataset["sft"])
    records = load_split(tiny_dataset["sft"])
    assert len(dataset) == len(records) > 0
    assert set(dataset.column_names) == {"prompt", "completion", "images"}
    row = dataset[0]
    assert row["prompt"][0]["role"] == "user"
    assert [part["type"] for part in row["prompt"][0]["content"]] == ["image", "text"]
    assert records[0].question in row["prompt"][0]["content"][1]["text"]
    assert row["completion"][0]["role"] == "assistant"
    assert row["completion"][0]["content"][0]["text"] == records[0].response
    assert "<answer>" in records[0].response
    assert len(row["images"]) == 1 and isinstance(row["images"][0], Image.Image)
    assert row["images"][0].size[0] > 0


def test_grpo_dataset_carries_answer_type_and_image(tiny_dataset: dict[str, Path]) -> None:
    dataset = grpo_dataset(tiny_dataset["rl"])
    records = load_split(tiny_dataset["rl"])
    assert len(dataset) == len(records) > 0
    assert set(dataset.column_names) == {"prompt", "image", "answer", "reward_type", "record_id"}
    for index in (0, len(dataset) - 1):
        row, record = dataset[index], records[index]
        assert isinstance(row["image"], Image.Image)
        assert row["answer"] == record.answer_text()
        assert row["reward_type"] == record.reward_type
        assert row["record_id"] == record.id


def test_a_folder_without_records_is_not_a_split(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"records\.jsonl is missing"):
        sft_dataset(tmp_path)


def test_sft_dataset_refuses_records_without_a_response(tiny_dataset: dict[str, Path]) -> None:
    # The eval split has no teacher responses.
    assert not next(iter(read_records(tiny_dataset["eval"] / "records.jsonl"))).response
    with pytest.raises(ValueError, match="has no response"):
        sft_dataset(tiny_dataset["eval"])


# ----------------------------------------------------------------------------- stage events


@pytest.fixture
def events_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(path))
    return path


def test_stage_reports_running_then_succeeded_with_metrics(events_file: Path) -> None:
    with stage("sft") as report:
        report.metrics["steps"] = 3
        report.artifacts["model"] = "/m"
    events = read_events(events_file)
    assert [(e["stage"], e["status"]) for e in events] == [("sft", "running"), ("sft", "succeeded")]
    assert events[1]["metrics"] == {"steps": 3}
    assert events[1]["artifacts"] == {"model": "/m"}
    assert events[1]["seconds"] >= 0


def test_stage_turns_a_user_error_into_one_line_and_exit_1(
    events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited, stage("prepare"):
        raise UserError("base_model 's3://x' is not supported")
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err == "[vlaa] stage prepare failed: base_model 's3://x' is not supported\n"
    assert "Traceback" not in err
    events = read_events(events_file)
    assert events[-1]["status"] == "failed"
    assert events[-1]["error"] == "base_model 's3://x' is not supported"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    learning_rate: float = 1.0


def test_stage_names_the_field_of_a_validation_error(
    events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited, stage("grpo"):
        _Strict.model_validate({"learning_rat": 1})
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "grpo.learning_rat: unknown parameter" in err
    assert read_events(events_file)[-1]["error"] == "grpo.learning_rat: unknown parameter"


def test_stage_reraises_unexpected_errors_after_reporting_them(events_file: Path) -> None:
    with pytest.raises(ZeroDivisionError), stage("evaluate-base"):
        _ = 1 / 0
    failed = read_events(events_file)[-1]
    assert failed["status"] == "failed"
    assert failed["error"].startswith("ZeroDivisionError")


def test_stage_without_an_events_file_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EVENTS_ENV, raising=False)
    with stage("publish") as report:
        report.metrics["version"] = "v0001"
    assert report.metrics == {"version": "v0001"}


# ----------------------------------------------------------------------------- run parameters


def test_defaults_are_valid() -> None:
    params = validate_parameters({})
    assert isinstance(params, RunParameters)
    assert (params.base_model, params.grpo_init) == ("tiny", "sft")


def test_unknown_group_key_names_the_parameter() -> None:
    with pytest.raises(ParameterError) as error:
        validate_parameters({"sft": {"learning_rat": 1}})
    assert "sft.learning_rat: unknown parameter" in str(error.value)


def test_unknown_top_level_key_names_the_parameter() -> None:
    with pytest.raises(ParameterError, match=r"parameters\.sft_config: unknown parameter"):
        validate_parameters({"sft_config": {}})


def test_bad_grpo_init_names_the_parameter_and_the_value() -> None:
    with pytest.raises(ParameterError) as error:
        validate_parameters({"grpo_init": "sideways"})
    message = str(error.value)
    assert "grpo_init" in message and "'sideways'" in message


def test_bad_type_names_the_parameter() -> None:
    with pytest.raises(ParameterError) as error:
        validate_parameters({"grpo": {"max_steps": "lots"}, "evaluate": {"max_new_tokens": 0}})
    message = str(error.value)
    assert "grpo.max_steps" in message and "'lots'" in message
    assert "evaluate.max_new_tokens" in message  # every problem is listed, not only the first


def test_parameter_errors_are_user_errors() -> None:
    assert issubclass(ParameterError, UserError)


def test_merge_is_deep_and_does_not_change_its_inputs() -> None:
    base = {"base_model": "tiny", "sft": {"learning_rate": 1e-3, "max_steps": 5}, "data": {}}
    override = {"sft": {"max_steps": 2}, "grpo_init": "base", "data": {"seed": 3}}
    merged = merge(base, override)
    assert merged == {
        "base_model": "tiny",
        "grpo_init": "base",
        "sft": {"learning_rate": 1e-3, "max_steps": 2},
        "data": {"seed": 3},
    }
    assert base["sft"] == {"learning_rate": 1e-3, "max_steps": 5}
    assert base["data"] == {}


def test_merge_result_shares_no_group_with_its_base() -> None:
    # `vlaa run` fills publish.store_uri into the merged parameters; that must not leak into
    # the preset the parameters came from.
    from vlaa.presets import preset

    merged = merge(preset("local-cpu"), {})
    merged["publish"]["store_uri"] = "/elsewhere"
    merged["sft"]["max_steps"] = 1
    assert "store_uri" not in preset("local-cpu")["publish"]
    assert "max_steps" not in preset("local-cpu")["sft"]


def test_merge_replaces_a_group_with_a_non_mapping() -> None:
    assert merge({"sft": {"max_steps": 1}}, {"sft": None}) == {"sft": None}


def test_parameter_file_must_hold_a_mapping(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("grpo_init: base\nsft:\n  max_steps: 2\n")
    assert load_parameter_file(good) == {"grpo_init": "base", "sft": {"max_steps": 2}}
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_parameter_file(empty) == {}
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ParameterError, match="must hold a mapping"):
        load_parameter_file(listing)
    with pytest.raises(ParameterError, match="cannot read parameter file"):
        load_parameter_file(tmp_path / "absent.yaml")
