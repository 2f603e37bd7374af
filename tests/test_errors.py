"""The user-error family: every clear one-line error derives from vlaa.errors.UserError."""

from __future__ import annotations

import importlib

import pytest

from vlaa.errors import USER_ERROR_TYPES, UserError
from vlaa.stages import stage

ONE_LINE_ERRORS = {
    "vlaa.records": ("RecordError", ValueError),
    "vlaa.modeling.loading": ("ModelLoadError", RuntimeError),
    "vlaa.benchmarks.items": ("BenchmarkDataError", ValueError),
    "vlaa.data.engine": ("DatasetBuildError", RuntimeError),
    "vlaa.registry.errors": ("PublishError", RuntimeError),
    "vlaa.errors": ("ConfigError", ValueError),
    "vlaa.evaluation.generation": ("GenerationError", Exception),
    "vlaa.parameters": ("ParameterError", Exception),
    "vlaa.pipelines.submit": ("SubmitError", Exception),
    "vlaa.pipelines.cron": ("CronError", ValueError),
    "vlaa.pipelines.local_run": ("PipelineFailed", RuntimeError),
}


@pytest.mark.parametrize("module", sorted(ONE_LINE_ERRORS))
def test_each_error_is_a_user_error_and_keeps_its_builtin_base(module: str) -> None:
    name, builtin = ONE_LINE_ERRORS[module]
    error_class = getattr(importlib.import_module(module), name)
    assert issubclass(error_class, UserError)
    assert issubclass(error_class, builtin)  # `except ValueError` callers see no change
    assert issubclass(error_class, USER_ERROR_TYPES)


def test_a_user_error_ends_a_stage_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from vlaa.records import RecordError

    with pytest.raises(SystemExit) as exit_info, stage("probe"):
        raise RecordError("records.jsonl line 3: 'answer' is missing")
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == "[vlaa] stage probe failed: records.jsonl line 3: 'answer' is missing"


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(ZeroDivisionError), stage("probe"):
        _ = 1 / 0
