"""The ``vlaa`` command line: help, clear failures before any pipeline runs, compile, models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from transformers import AutoModelForImageTextToText, AutoProcessor
from typer.testing import CliRunner, Result

from vlaa.cli import app

COMMANDS = (
    "run",
    "compile",
    "submit",
    "schedule",
    "make-tiny-model",
    "build-dataset",
    "sft",
    "grpo",
    "evaluate",
    "publish",
)
_BOX_CHARACTERS = re.compile(r"[│╭╮╰╯─┃━┏┓┗┛]")


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


def _plain(text: str) -> str:
    """Help / error text without box drawing and line wrapping."""
    return " ".join(_BOX_CHARACTERS.sub(" ", text).split())


def _assert_clean_failure(result: Result) -> None:
    """Exit 1 through ``typer.Exit``: CliRunner keeps an escaped exception out of the output,
    so "no traceback" is checked on ``result.exception`` as well as on the text."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def _commands() -> dict[str, Any]:
    """The app's commands as (Typer's vendored) click command objects, by name."""
    return typer.main.get_command(app).commands  # type: ignore[attr-defined]


def test_every_design_command_exists() -> None:
    assert set(COMMANDS) <= set(_commands())


def test_top_level_help_lists_the_commands() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_help_of_each_command_explains_every_option(name: str) -> None:
    result = _invoke(name, "--help")
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    for parameter in _commands()[name].params:
        if parameter.name == "help":
            continue
        help_text = getattr(parameter, "help", None)
        assert help_text, f"{name}: {parameter.name} has no help"
        assert _plain(help_text) in text, f"{name}: help of {parameter.name} not shown"
        if parameter.param_type_name == "option":
            assert any(opt in text for opt in parameter.opts), f"{name}: {parameter.opts}"


@pytest.mark.parametrize("name", [*COMMANDS, None])
def test_help_shows_flags_without_a_value_type(name: str | None) -> None:
    result = _invoke(*([name] if name else []), "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output  # a flag takes no value


class PipelineCalls(list):
    """Validated parameters handed to the local run, and which pipeline each call named."""

    def __init__(self) -> None:
        super().__init__()
        self.pipelines: list[str] = []
        self.runners: list[str] = []


@pytest.fixture
def pipeline_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replace the local run so a validation regression fails fast instead of training."""
    import vlaa.pipelines.local_run as local_run

    calls = PipelineCalls()

    def refuse(
        params: Any,
        output: Path,
        pipeline: str = "vlaa-thinker",
        verbose: bool = False,
        runner: str = "subprocess",
        allow_stale_images: bool = False,
    ) -> dict[str, Any]:
        calls.append(params)
        calls.pipelines.append(pipeline)
        calls.runners.append(runner)
        raise RuntimeError("the pipeline must not start for invalid parameters")

    monkeypatch.setattr(local_run, "run_local", refuse)
    return calls


@pytest.mark.usefixtures("pipeline_calls")
def test_run_without_local_fails_clearly(tmp_path: Path) -> None:
    result = _invoke("run", "--output", str(tmp_path / "out"))
    _assert_clean_failure(result)
    assert "only --local runs" in _plain(result.output)
    assert "`vlaa submit`" in _plain(result.output)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"sft": {"learning_rat": 1}}, "sft.learning_rat: unknown parameter"),
        ({"grpo_init": "sideways"}, "parameters.grpo_init: Input should be 'sft' or 'base'"),
        ({"evaluate": {"max_new_tokens": "many"}}, "evaluate.max_new_tokens"),
        ({"sft_config": {}}, "parameters.sft_config: unknown parameter"),
    ],
)
def test_run_with_bad_parameters_fails_before_the_pipeline(
    tmp_path: Path, pipeline_calls: list[Any], content: dict[str, Any], expected: str
) -> None:
    params = tmp_path / "bad.yaml"
    params.write_text(yaml.safe_dump(content))
    output = tmp_path / "out"
    result = _invoke("run", "--local", "--params", str(params), "--output", str(output))
    _assert_clean_failure(result)
    assert expected in _plain(result.output)
    assert pipeline_calls == []
    assert not output.exists()


def test_run_with_a_bad_arm_option_fails_before_the_pipeline(
    tmp_path: Path, pipeline_calls: list[Any]
) -> None:
    output = tmp_path / "out"
    result = _invoke("run", "--local", "--grpo-init", "sideways", "--output", str(output))
    _assert_clean_failure(result)
    assert "grpo_init" in result.output and "'sideways'" in result.output
    assert pipeline_calls == []
    assert not output.exists()


@pytest.mark.usefixtures("pipeline_calls")
def test_run_with_an_unknown_preset_fails_clearly(tmp_path: Path) -> None:
    result = _invoke("run", "--local", "--preset", "huge", "--output", str(tmp_path / "o"))
    _assert_clean_failure(result)
    assert "unknown preset 'huge'" in _plain(result.output)


@pytest.mark.usefixtures("pipeline_calls")
def test_run_with_a_missing_parameter_file_fails_clearly(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    result = _invoke("run", "--local", "--params", str(missing), "--output", str(tmp_path / "o"))
    _assert_clean_failure(result)
    assert "absent.yaml" in _plain(result.output)


def test_compile_writes_the_pipeline(tmp_path: Path) -> None:
    target = tmp_path / "tmp" / "x.yaml"
    result = _invoke("compile", "--output", str(target))
    assert result.exit_code == 0, result.output
    spec = next(yaml.safe_load_all(target.read_text()))
    assert spec["pipelineInfo"]["name"] == "vlaa-thinker"
    assert "comp-grpo" in spec["components"]


@pytest.mark.parametrize("name", ["sft-vs-rl", "vlaa-sft-vs-rl", "thinker"])
def test_compile_writes_each_pipeline_to_its_own_default_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _invoke("compile", "--pipeline", name)
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "pipelines" / "compiled").iterdir())
    full = "vlaa-thinker" if name == "thinker" else "vlaa-sft-vs-rl"
    assert [path.name for path in written] == [f"{full}.yaml"]  # never the other's file
    assert next(yaml.safe_load_all(written[0].read_text()))["pipelineInfo"]["name"] == full


def test_compile_refuses_an_unknown_pipeline(tmp_path: Path) -> None:
    target = tmp_path / "x.yaml"
    result = _invoke("compile", "--output", str(target), "--pipeline", "nope")
    _assert_clean_failure(result)
    assert "unknown pipeline 'nope'" in _plain(result.output)
    assert not target.exists()


def test_make_tiny_model_writes_a_loadable_model(tmp_path: Path) -> None:
    directory = tmp_path / "model"
    result = _invoke("make-tiny-model", str(directory), "--seed", "2")
    assert result.exit_code == 0, result.output
    assert "parameters" in result.output
    AutoProcessor.from_pretrained(directory)
    model = AutoModelForImageTextToText.from_pretrained(directory)
    assert model.config.model_type == "qwen2_5_vl"


def test_make_tiny_model_refuses_an_unknown_size(tmp_path: Path) -> None:
    directory = tmp_path / "model"
    result = _invoke("make-tiny-model", str(directory), "--size", "huge")
    _assert_clean_failure(result)
    assert "--size 'huge' is not one of tiny, 3b, 7b" in _plain(result.output)
    assert not directory.exists()


def test_step_command_with_a_bad_config_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "data.yaml"
    config.write_text("num_sampels: 3\n")
    result = _invoke("build-dataset", "--output", str(tmp_path / "d"), "--config", str(config))
    _assert_clean_failure(result)
    assert "config.num_sampels: unknown parameter" in _plain(result.output)


def test_run_with_valid_parameters_reaches_the_pipeline(
    tmp_path: Path, pipeline_calls: list[Any]
) -> None:
    """The counterpart of the failures above: good parameters are validated and handed on."""
    params = tmp_path / "good.yaml"
    params.write_text(yaml.safe_dump({"grpo_init": "base", "sft": {"max_steps": 1}}))
    result = _invoke("run", "--local", "--params", str(params), "--output", str(tmp_path / "o"))
    assert len(pipeline_calls) == 1
    validated = pipeline_calls[0]
    assert validated.grpo_init == "base"
    assert validated.sft["max_steps"] == 1
    assert validated.sft["learning_rate"] == 3e-3  # the local-cpu preset underneath
    assert validated.publish["store_uri"] == str((tmp_path / "o" / "registry").resolve())
    assert result.exit_code != 0  # the stand-in pipeline fails


def test_run_runner_option_reaches_the_local_run(
    tmp_path: Path, pipeline_calls: PipelineCalls
) -> None:
    _invoke("run", "--local", "--runner", "container", "--output", str(tmp_path / "o"))
    assert pipeline_calls.runners == ["container"]


def test_run_pipeline_option_picks_the_study(tmp_path: Path, pipeline_calls: PipelineCalls) -> None:
    _invoke("run", "--local", "--pipeline", "sft-vs-rl", "--output", str(tmp_path / "o"))
    assert pipeline_calls.pipelines == ["vlaa-sft-vs-rl"]


@pytest.mark.usefixtures("pipeline_calls")
@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--pipeline", "rlhf", "unknown pipeline 'rlhf'"),
        ("--runner", "kubernetes", "unknown runner 'kubernetes'; choose subprocess or container"),
    ],
)
def test_run_with_an_unknown_choice_fails_before_the_pipeline(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    result = _invoke("run", "--local", option, value, "--output", str(tmp_path / "o"))
    _assert_clean_failure(result)
    assert expected in _plain(result.output)
    assert not (tmp_path / "o").exists()
