"""The LLM-teacher `data:` example of the docs validates as written (issue 16): no `cache_dir`
the user never wrote, a rate limit written once for a shared endpoint, the `data:` wrapper."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vlaa.cli import app
from vlaa.cli.app import load_step_config
from vlaa.data.config import BuildDatasetConfig
from vlaa.data.llm_teacher.config import LLMTeacherConfig
from vlaa.errors import ConfigError
from vlaa.parameters import validate_parameters

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"```ya?ml\n(.*?)```", re.DOTALL)


def _teacher_example() -> tuple[Path, str]:
    """The first YAML block of README.md or docs/*.md with a `data:` group using `llm_teacher`."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in FENCE.findall(page.read_text(encoding="utf-8")):
            if block.startswith("data:") and "llm_teacher:" in block:
                return page, block
    raise AssertionError("no documented `data:` example with llm_teacher found")


@pytest.fixture
def no_cache_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("VLAA_TEACHER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def test_the_documented_example_is_valid_run_parameters(no_cache_env: Path) -> None:
    page, block = _teacher_example()
    data = yaml.safe_load(block)["data"]
    validate_parameters({"data": data})  # raises ParameterError naming the field otherwise
    teacher = BuildDatasetConfig.model_validate(data).llm_teacher_config()
    assert teacher.cache_dir == str(no_cache_env / "vlaa" / "teacher")
    # The rate limit written on `caption` governs the endpoint `rewrite` and `verify` share.
    limits = {step: e.requests_per_minute for step, e in teacher.endpoints().items()}
    shared = [s for s, e in teacher.endpoints().items() if e.base_url == teacher.caption.base_url]
    assert {limits[s] for s in shared} == {teacher.caption.requests_per_minute}, page


def test_build_dataset_reads_the_wrapped_example(no_cache_env: Path, tmp_path: Path) -> None:
    _, block = _teacher_example()
    wrapped = tmp_path / "data.yaml"
    wrapped.write_text(block)
    config = load_step_config(BuildDatasetConfig, wrapped, "data")
    assert config.teacher == "llm"
    flat = tmp_path / "flat.yaml"
    flat.write_text(yaml.safe_dump(yaml.safe_load(block)["data"]))
    assert load_step_config(BuildDatasetConfig, flat, "data") == config


def test_a_half_wrapped_config_says_how_to_fix_it(tmp_path: Path) -> None:
    mixed = tmp_path / "data.yaml"
    mixed.write_text("data: {num_samples: 10}\neval_size: 2\n")
    with pytest.raises(ConfigError, match="all under `data:` or all at the top"):
        load_step_config(BuildDatasetConfig, mixed, "data")


def _endpoint(rpm: float | None = None) -> dict:
    fields = {"base_url": "https://api.example/v1", "model": "m", "api_key_env": "KEY"}
    return fields | ({"requests_per_minute": rpm} if rpm else {})


def test_two_different_limits_on_one_endpoint_still_conflict_and_say_what_to_do() -> None:
    steps = {"caption": _endpoint(10), "reason": _endpoint(), "rewrite": _endpoint(20)}
    with pytest.raises(ValueError, match="write requests_per_minute on one of them"):
        LLMTeacherConfig.model_validate({**steps, "verify": _endpoint(), "cache_dir": "/c"})


def test_a_rejected_config_is_named_not_dumped(tmp_path: Path) -> None:
    config = tmp_path / "data.yaml"
    endpoints = {"caption": _endpoint(10), "reason": _endpoint(20)}
    endpoints |= {"rewrite": _endpoint(), "verify": _endpoint()}
    config.write_text(yaml.safe_dump({"data": {"teacher": "llm", "llm_teacher": endpoints}}))
    result = CliRunner().invoke(
        app, ["build-dataset", "--config", str(config), "--output", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "share the endpoint" in output
    assert "https://api.example/v1" in output  # the message names it ...
    assert "'model': 'm'" not in output  # ... but the config is not echoed back
