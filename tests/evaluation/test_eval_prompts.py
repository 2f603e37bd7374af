"""The evaluate step's prompt choices: ``prompt_style`` and ``system_prompt`` reach the
generation requests and are recorded in the report and its Markdown / HTML render."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from fixtures.benchmark_files import _write_json, _write_png
from pydantic import ValidationError

from vlaa.evaluation import evaluate
from vlaa.evaluation.config import EvaluateStepConfig
from vlaa.evaluation.generation import GenerationRequest
from vlaa.evaluation.render import render_html, render_markdown
from vlaa.prompts import SYSTEM_PROMPT, VLAA_THINKER_SYSTEM_PROMPT
from vlaa.records import Record
from vlaa.training.datasets import prompt_messages

QUESTION = "Which figure comes next? Select from A, B, C, D."
RECORD = Record(
    id="eval-1",
    source="clevr_math",
    image="clevr_math/1.png",
    question="How many cubes?",
    answer="3",
    reward_type="digit",
    split="eval",
)


class RecordingGenerator:
    """A generator that keeps every request and answers ``<answer>C</answer>``."""

    backend = "recording"

    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest], desc: str = "") -> list[str]:
        self.requests.extend(requests)
        return ["<think>look</think><answer>C</answer>"] * len(requests)


def _system_text(request: GenerationRequest) -> str:
    system, _ = request.messages
    assert system["role"] == "system"
    return system["content"][0]["text"]


def _user_text(request: GenerationRequest) -> str:
    return request.messages[-1]["content"][-1]["text"]


@pytest.fixture
def run_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``evaluate_model`` over one LogicVista item and one synthetic record, no model loaded."""
    root = tmp_path / "LogicVista"
    _write_png(root / "data" / "images" / "v1_0.png")
    _write_json(
        root / "data" / "dataset.json",
        {"v1_0": {"imagename": "v1_0.png", "question": QUESTION, "answer": "C"}},
    )
    generator = RecordingGenerator()
    monkeypatch.setenv("VLAA_BENCHMARK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(evaluate, "load_split", lambda _: [RECORD])
    monkeypatch.setattr(evaluate, "check_model_dir", lambda _: None)
    monkeypatch.setattr(evaluate, "make_generator", lambda *args, **kwargs: generator)

    def run(**fields):
        config = EvaluateStepConfig(benchmarks={"logicvista": str(root)}, **fields)
        report = evaluate.evaluate_model(tmp_path / "model", tmp_path / "eval", config)
        split_request, benchmark_request = generator.requests[-2:]
        return report, split_request, benchmark_request

    return run


def test_defaults_send_vlmevalkit_prompts_with_the_project_system_prompt(run_evaluation) -> None:
    report, split_request, benchmark_request = run_evaluation()
    assert _system_text(benchmark_request) == SYSTEM_PROMPT
    assert _user_text(benchmark_request) == QUESTION  # no training instruction appended
    assert report.protocol["prompt_style"] == "vlmevalkit"
    assert report.protocol["system_prompt_choice"] == "project"
    assert report.protocol["system_prompt"] == SYSTEM_PROMPT
    # The synthetic split keeps the training prompt (the chat template adds its system prompt).
    assert split_request.messages == prompt_messages(RECORD)
    assert _user_text(split_request) == "How many cubes? Answer with a single number."
    assert report.protocol["eval_split_prompt"] == "training"
    assert report.benchmarks["logicvista"].accuracy == 1.0


def test_vlaa_thinker_system_prompt_and_training_style(run_evaluation) -> None:
    report, split_request, benchmark_request = run_evaluation(
        system_prompt="vlaa-thinker", prompt_style="training"
    )
    assert _system_text(benchmark_request) == VLAA_THINKER_SYSTEM_PROMPT
    assert VLAA_THINKER_SYSTEM_PROMPT.startswith("You are VL-Thinking🤔, a helpful assistant")
    assert _user_text(benchmark_request) == f"{QUESTION} Answer with the option's letter."
    assert split_request.messages == prompt_messages(RECORD)  # the split is not switched
    assert report.protocol["system_prompt_choice"] == "vlaa-thinker"
    assert report.protocol["system_prompt"] == VLAA_THINKER_SYSTEM_PROMPT
    assert report.protocol["prompt_style"] == "training"

    markdown = render_markdown(report)
    assert (
        "Protocol: the VLAA-Thinker release's system prompt, benchmark questions with the "
        "training task instruction, greedy decoding" in markdown
    )
    assert "the VLAA-Thinker release&#x27;s system prompt" in render_html(report)


def test_custom_system_prompt_text_is_sent_and_recorded(run_evaluation) -> None:
    report, _, benchmark_request = run_evaluation(system_prompt="Answer in <answer> tags.")
    assert _system_text(benchmark_request) == "Answer in <answer> tags."
    assert report.protocol["system_prompt_choice"] == "custom"
    assert report.protocol["system_prompt"] == "Answer in <answer> tags."
    assert (
        "Protocol: a custom system prompt, each benchmark's own prompt as VLMEvalKit "
        "builds it" in render_markdown(report)
    )


def test_old_reports_render_the_prompts_they_used(run_evaluation) -> None:
    report, _, _ = run_evaluation()
    old = report.model_copy(
        update={
            "protocol": {
                k: v
                for k, v in report.protocol.items()
                if k not in ("prompt_style", "system_prompt_choice")
            }
        }
    )
    assert (
        "Protocol: the training system prompt, benchmark questions with the training task "
        "instruction" in render_markdown(old)
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt_style": "custom"}, "prompt_style"),
        ({"system_prompt": "  "}, "system_prompt is blank"),
        ({"system_prompt": ""}, "system_prompt"),
    ],
)
def test_bad_prompt_settings_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EvaluateStepConfig(**fields)
