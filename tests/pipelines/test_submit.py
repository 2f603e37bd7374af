"""`vlaa submit` / `vlaa schedule` against a KFP API server on loopback (tests/doubles/kfp_api.py):
what kfp.Client sends (upload body, experiment, run and recurring-run bodies), version reuse,
and the failures that must stop before any API call."""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kfp.client.client
import pytest
import typer
import yaml
from doubles.kfp_api import KfpApiDouble
from typer.testing import CliRunner, Result

from vlaa.cli import app
from vlaa.parameters import ParameterError, validate_parameters
from vlaa.pipelines import cron as kfp_cron
from vlaa.pipelines import submit
from vlaa.pipelines.compile import compile_pipeline
from vlaa.pipelines.local_run import kfp_arguments
from vlaa.presets import preset

TOKEN = "kfp-token-7f3a9c"
_BOX_CHARACTERS = re.compile(r"[│╭╮╰╯─┃━┏┓┗┛┌┐└┘├┤┬┴┼]")


@pytest.fixture(autouse=True)
def _isolated_kfp_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No KFP settings from this machine: env vars and ~/.config/kfp/context.json."""
    for name in ("KFP_HOST", "KFP_API_TOKEN", "KF_PIPELINES_UI_ENDPOINT", "KF_PIPELINES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        kfp.client.client.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json")
    )


@pytest.fixture
def server() -> Iterator[KfpApiDouble]:
    double = KfpApiDouble()
    with double.serve():
        yield double


def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        app, list(args), env={"COLUMNS": "250", "NO_COLOR": "1", **(env or {})}
    )


def _plain(text: str) -> str:
    return " ".join(_BOX_CHARACTERS.sub(" ", text).split())


def _assert_clean_failure(result: Result) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def _params_file(tmp_path: Path, content: dict[str, Any]) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def _compiled_yaml(tmp_path: Path, pipeline: str = "vlaa-thinker") -> str:
    return compile_pipeline(pipeline, tmp_path / "expected" / f"{pipeline}.yaml").read_text()


def _only(requests: list[Any]) -> Any:
    assert len(requests) == 1, [r.route for r in requests]
    return requests[0]


# --- submit ---------------------------------------------------------------------------------


def test_submit_uploads_the_pipeline_and_starts_the_run(
    server: KfpApiDouble, tmp_path: Path
) -> None:
    params = _params_file(
        tmp_path,
        {
            "grpo_init": "base",
            "data": {"num_samples": 40, "seed": 7},
            "sft": {"max_steps": 3},
            "publish": {"store_uri": "s3://vlaa-models/registry"},
        },
    )
    result = _invoke(
        "submit", "--host", server.url, "--params", str(params),
        "--experiment", "study", "--run-name", "nightly-1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    expected_yaml = _compiled_yaml(tmp_path)
    created = _only(server.calls("POST", "/pipelines"))
    assert created.body["display_name"] == "vlaa-thinker"
    pipeline_id = next(iter(server.pipelines))
    upload = _only(server.calls("POST", "/pipelines/upload_version"))
    assert upload.body["uploadfile"]["content"] == expected_yaml
    assert upload.body["uploadfile"]["filename"] == "vlaa-thinker.yaml"
    digest = hashlib.sha256(expected_yaml.encode()).hexdigest()
    assert upload.query["pipelineid"] == pipeline_id
    assert upload.query["name"] == f"vlaa-thinker-{digest[:12]}"
    version_id = server.versions[pipeline_id][0]["pipeline_version_id"]

    experiment = _only(server.calls("POST", "/experiments"))
    assert experiment.body["display_name"] == "study"
    run = _only(server.calls("POST", "/runs")).body
    assert run["display_name"] == "nightly-1"
    assert run["experiment_id"] == next(iter(server.experiments))
    assert run["pipeline_version_reference"] == {
        "pipeline_id": pipeline_id,
        "pipeline_version_id": version_id,
    }
    assert run["service_account"] == "vlaa-pipeline-runner"
    assert "pipeline_spec" not in run  # the run points at the uploaded version
    assert run["runtime_config"]["parameters"] == {
        "base_model": "tiny",
        "grpo_init": "base",
        "data": {"num_samples": 40, "seed": 7},
        "sft": {"max_steps": 3},
        "grpo": {},
        "evaluate": {},
        "publish": {"store_uri": "s3://vlaa-models/registry"},
    }
    run_id = next(iter(server.runs))
    text = _plain(result.output)
    assert f"{server.url}/#/runs/details/{run_id}" in text
    assert "nightly-1" in text and "uploaded" in text
    assert "warning" not in text  # the model goes to S3


def test_a_second_submit_of_unchanged_code_reuses_the_version(
    server: KfpApiDouble, tmp_path: Path
) -> None:
    first = _invoke("submit", "--host", server.url)
    second = _invoke("submit", "--host", server.url)
    assert first.exit_code == 0 and second.exit_code == 0, second.output

    assert len(server.calls("POST", "/pipelines/upload_version")) == 1
    assert len(server.calls("POST", "/pipelines")) == 1
    assert len(server.calls("POST", "/experiments")) == 1  # found by name the second time
    runs = server.calls("POST", "/runs")
    assert len(runs) == 2
    references = [r.body["pipeline_version_reference"] for r in runs]
    assert references[0] == references[1]
    assert "reused (same content)" in _plain(second.output)


def test_changed_code_becomes_a_new_version_of_the_same_pipeline(
    server: KfpApiDouble, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = submit.connect(server.url)
    first = submit.ensure_pipeline_version(client, "vlaa-thinker")

    def edited(name: str, output: Path) -> Path:
        path = compile_pipeline(name, output)
        path.write_text(path.read_text() + "# a changed component\n")
        return path

    monkeypatch.setattr(submit, "compile_pipeline", edited)
    second = submit.ensure_pipeline_version(client, "vlaa-thinker")

    assert second.uploaded and second.version_id != first.version_id
    assert second.pipeline_id == first.pipeline_id
    assert len(server.calls("POST", "/pipelines")) == 1
    names = [v["display_name"] for v in server.versions[first.pipeline_id]]
    assert names == [first.version_name, second.version_name]


def test_a_pipeline_uploaded_in_the_ui_gets_our_version_added(server: KfpApiDouble) -> None:
    pipeline_id = server.add_pipeline("vlaa-thinker")
    version = submit.ensure_pipeline_version(submit.connect(server.url), "vlaa-thinker")
    assert version.pipeline_id == pipeline_id and version.uploaded
    assert server.calls("POST", "/pipelines") == []
    assert _only(server.calls("POST", "/pipelines/upload_version")).query["pipelineid"] == (
        pipeline_id
    )


def test_an_explicit_version_name_holding_other_content_is_refused(
    server: KfpApiDouble,
) -> None:
    pipeline_id = server.add_pipeline("vlaa-thinker", with_default_version=False)
    server.add_version(pipeline_id, "0.2.0", "compiled by vlaa; sha256 0123abcd")
    client = submit.connect(server.url)
    with pytest.raises(submit.SubmitError, match=r"already has a version '0\.2\.0' with other"):
        submit.ensure_pipeline_version(client, "vlaa-thinker", "0.2.0")
    assert server.calls("POST", "/pipelines/upload_version") == []
    fresh = submit.ensure_pipeline_version(client, "vlaa-thinker", "0.3.0")
    assert fresh.uploaded and fresh.version_name == "0.3.0"
    assert submit.ensure_pipeline_version(client, "vlaa-thinker", "0.3.0").uploaded is False


def test_the_study_pipeline_gets_only_its_own_parameters(
    server: KfpApiDouble, tmp_path: Path
) -> None:
    params = _params_file(tmp_path, {"sft": {"max_steps": 5}})
    result = _invoke(
        "submit", "--host", server.url, "--pipeline", "vlaa-sft-vs-rl",
        "--preset", "local-cpu", "--params", str(params),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    upload = _only(server.calls("POST", "/pipelines/upload_version"))
    assert upload.body["uploadfile"]["content"] == _compiled_yaml(tmp_path, "vlaa-sft-vs-rl")
    parameters = _only(server.calls("POST", "/runs")).body["runtime_config"]["parameters"]
    assert set(parameters) == {"base_model", "data", "sft", "grpo", "evaluate"}
    assert parameters["sft"]["max_steps"] == 5
    assert parameters["sft"]["learning_rate"] == 3e-3  # the local-cpu preset underneath
    assert _only(server.calls("POST", "/experiments")).body["display_name"] == "vlaa-sft-vs-rl"


def test_the_default_paper_preset_warns_that_a_pod_folder_loses_the_model(
    server: KfpApiDouble,
) -> None:
    result = _invoke("submit", "--host", server.url)
    assert result.exit_code == 0, result.output
    assert "publish.store_uri is 'runs/registry'" in _plain(result.output)


def test_the_ui_link_follows_kfp_ui_endpoint(server: KfpApiDouble) -> None:
    result = _invoke(
        "submit", "--host", server.url, env={"KF_PIPELINES_UI_ENDPOINT": "https://kubeflow.example"}
    )
    run_id = next(iter(server.runs))
    assert f"https://kubeflow.example/#/runs/details/{run_id}" in _plain(result.output)


@pytest.mark.parametrize(
    ("states", "exit_code", "shown"),
    [(["RUNNING", "SUCCEEDED"], 0, "SUCCEEDED"), (["PENDING", "RUNNING", "FAILED"], 1, "FAILED")],
)
def test_wait_polls_until_the_run_ends(
    server: KfpApiDouble, states: list[str], exit_code: int, shown: str
) -> None:
    server.run_states = states
    result = _invoke("submit", "--host", server.url, "--wait", "--poll-interval", "0.01")
    assert result.exit_code == exit_code, result.output
    assert f"final state: {shown}" in _plain(result.output)
    run_id = next(iter(server.runs))
    assert len(server.calls("GET", f"/runs/{run_id}")) == len(states)


def test_wait_gives_up_after_the_timeout(server: KfpApiDouble) -> None:
    server.run_states = ["RUNNING"]
    result = _invoke(
        "submit", "--host", server.url, "--wait", "--timeout", "0.05", "--poll-interval", "0.01"
    )
    _assert_clean_failure(result)
    text = _plain(result.output)
    assert "is still RUNNING after 0 s; it goes on on the server" in text
    assert f"/#/runs/details/{next(iter(server.runs))}" in text  # shown before waiting


def test_wait_stops_at_a_cancelled_run(server: KfpApiDouble) -> None:
    client = submit.connect(server.url)
    version = submit.ensure_pipeline_version(client, "vlaa-thinker")
    run = submit.submit_run(client, version, {}, "exp")
    server.run_states = ["CANCELED"]
    assert submit.wait_for_run(client, run.run_id, timeout_seconds=5, poll_seconds=0.01) == (
        "CANCELED"
    )


# --- schedule -------------------------------------------------------------------------------


def test_schedule_sends_the_cron_concurrency_no_catchup_and_version(
    server: KfpApiDouble, tmp_path: Path
) -> None:
    params = _params_file(tmp_path, {"grpo": {"max_steps": 50}})
    result = _invoke(
        "schedule", "--host", server.url, "--cron", "0 0 3 * * *", "--params", str(params)
    )
    assert result.exit_code == 0, result.output

    body = _only(server.calls("POST", "/recurringruns")).body
    pipeline_id = next(iter(server.pipelines))
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert body["max_concurrency"] == 1
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["pipeline_version_reference"] == {
        "pipeline_id": pipeline_id,
        "pipeline_version_id": server.versions[pipeline_id][0]["pipeline_version_id"],
    }
    assert body["service_account"] == "vlaa-pipeline-runner"
    assert body["runtime_config"]["parameters"]["grpo"] == {"max_steps": 50}
    assert body["display_name"] == "vlaa-thinker-recurring"
    recurring_id = next(iter(server.recurring_runs))
    assert f"{server.url}/#/recurringrun/details/{recurring_id}" in _plain(result.output)


def test_schedule_options_reach_the_request(server: KfpApiDouble) -> None:
    result = _invoke(
        "schedule", "--host", server.url, "--cron", "0 30 2 * * MON-FRI",
        "--catchup", "--max-concurrency", "3", "--disabled", "--run-name", "weekday-retrain",
        "--start", "2025-07-01T03:00:00Z", "--end", "2025-12-31T00:00:00+02:00",
        "--service-account", "other-runner",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = _only(server.calls("POST", "/recurringruns")).body
    assert body["trigger"]["cron_schedule"] == {
        "cron": "0 30 2 * * MON-FRI",
        "start_time": "2025-07-01T03:00:00+00:00",
        "end_time": "2025-12-31T00:00:00+02:00",
    }
    assert body["no_catchup"] is False
    assert body["max_concurrency"] == 3
    assert body["mode"] == "DISABLE"
    assert body["display_name"] == "weekday-retrain"
    assert body["service_account"] == "other-runner"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--cron", "0 3 * * *"],
            "KFP cron has six fields, seconds first, e.g. '0 0 3 * * *'; for that crontab "
            "line write '0 0 3 * * *' (seconds added first)",
        ),
        (["--cron", "0 0 24 * * *"], "cron hour field: 24 is outside 0-23"),
        (["--cron", "0 0 3 * * *", "--max-concurrency", "11"], "max concurrency 11 is outside"),
        (["--cron", "@daily", "--start", "tomorrow"], "--start 'tomorrow' is not an ISO 8601"),
        (
            ["--cron", "@daily", "--start", "2025-02-01", "--end", "2025-01-01"],
            "is not after the start time",
        ),
    ],
)
def test_bad_schedules_fail_before_any_api_call(
    server: KfpApiDouble, args: list[str], expected: str
) -> None:
    result = _invoke("schedule", "--host", server.url, *args)
    _assert_clean_failure(result)
    assert expected in _plain(result.output)
    assert server.requests == []


@pytest.mark.parametrize(
    "cron",
    ["0 0 3 * * *", "0 */15 * * * ?", "0 0 9 ? * MON-FRI", "30 0 0 1,15 JAN-JUN 0", "@daily",
     "@every 6h30m", "  0  0 3 * * *  "],
)  # fmt: skip
def test_valid_kfp_crons_pass(cron: str) -> None:
    assert kfp_cron.validate_cron(cron) == " ".join(cron.split())


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 0 3 * *", "has 5 fields"),
        ("0 0 3 * * * 2025", "has 7 fields"),
        ("", "has 0 fields"),
        ("60 * * * * *", "cron second field: 60 is outside 0-59"),
        ("0 0 0 0 * *", "cron day of month field: 0 is outside 1-31"),
        ("0 0 0 * 13 *", "cron month field: 13 is outside 1-12"),
        ("0 0 0 * * 7", "cron day of week field: 7 is outside 0-6"),
        ("0 0 5-2 * * *", "range '5-2' runs backwards"),
        ("0 */0 * * * *", "step '0' must be a positive number"),
        ("0 0 x * * *", "cron hour field: 'x' is not a number"),
        ("@sometimes", "unknown cron descriptor '@sometimes'"),
    ],
)
def test_invalid_crons_are_explained(cron: str, expected: str) -> None:
    with pytest.raises(kfp_cron.CronError, match=re.escape(expected)):
        kfp_cron.validate_cron(cron)


# --- parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "content", "expected"),
    [
        ("vlaa-thinker", {"gpu_typo": "a100"}, "gpu_typo: unknown parameter for vlaa-thinker"),
        ("vlaa-thinker", {"sft": {"learning_rat": 1}}, "sft.learning_rat: unknown parameter"),
        ("vlaa-thinker", {"grpo_init": "sideways"}, "parameters.grpo_init: Input should be"),
        ("vlaa-thinker", {"sft_config": {}}, "sft_config: unknown parameter for vlaa-thinker"),
        (
            "vlaa-sft-vs-rl",
            {"publish": {"model_name": "x"}},
            "publish: vlaa-sft-vs-rl has no parameter 'publish'",
        ),
    ],
)
def test_bad_parameters_fail_before_any_api_call(
    server: KfpApiDouble, tmp_path: Path, pipeline: str, content: dict[str, Any], expected: str
) -> None:
    params = _params_file(tmp_path, content)
    for command in (["submit"], ["schedule", "--cron", "0 0 3 * * *"]):
        result = _invoke(
            *command, "--host", server.url, "--pipeline", pipeline, "--params", str(params)
        )
        _assert_clean_failure(result)
        assert expected in _plain(result.output)
    assert server.requests == []


def test_unknown_preset_and_pipeline_fail_clearly(server: KfpApiDouble) -> None:
    result = _invoke("submit", "--host", server.url, "--preset", "huge")
    _assert_clean_failure(result)
    assert "unknown preset 'huge'" in _plain(result.output)
    result = _invoke("submit", "--host", server.url, "--pipeline", "rlhf")
    _assert_clean_failure(result)
    assert "unknown pipeline 'rlhf'" in _plain(result.output)
    assert server.requests == []


def _compiled_with(inputs: dict[str, dict[str, Any]]) -> submit.CompiledPipeline:
    """A pipeline with the given inputs (cluster settings the real pipelines may gain)."""
    return submit.CompiledPipeline("p", Path("p.yaml"), "0" * 64, inputs)


def test_pipeline_only_parameters_pass_through_after_a_type_check(tmp_path: Path) -> None:
    compiled = _compiled_with(
        {
            "base_model": {"parameterType": "STRING", "defaultValue": "tiny"},
            "sft": {"parameterType": "STRUCT", "defaultValue": {}},
            "gpu_type": {"parameterType": "STRING", "defaultValue": "nvidia.com/gpu"},
            "gpu_count": {"parameterType": "STRING", "defaultValue": "1"},
            "gpu_tolerations": {"parameterType": "LIST", "defaultValue": []},
            "cpu_node_selector": {"parameterType": "STRUCT", "defaultValue": {}},
        }
    )
    params = _params_file(tmp_path, {"gpu_count": 8, "gpu_tolerations": [{"key": "gpu"}]})
    assert submit.run_parameters(params, "paper", compiled) == {
        "base_model": "tiny",
        "sft": {},
        "gpu_count": "8",  # an int is accepted and sent as the STRING the pipeline takes
        "gpu_tolerations": [{"key": "gpu"}],
    }
    wrong = _params_file(tmp_path, {"cpu_node_selector": ["a"]})
    with pytest.raises(ParameterError, match=r"cpu_node_selector: expected STRUCT \(got \['a'\]\)"):
        submit.run_parameters(wrong, "paper", compiled)


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ({"gpu_count": "eight"}, "gpu_count: 'eight' is not a positive whole number of GPUs"),
        ({"gpu_count": 0}, "gpu_count: '0' is not a positive whole number of GPUs"),
        ({"gpu_count": True}, "gpu_count: True is not a positive whole number of GPUs"),
        ({"gpu_count": 1.5}, "gpu_count: 1.5 is not a positive whole number of GPUs"),
        ({"gpu_type": True}, "gpu_type: True is not a Kubernetes resource name"),
        ({"gpu_type": "gpu"}, "gpu_type: 'gpu' is not a Kubernetes resource name"),
    ],
)
def test_bad_gpu_placement_is_refused_before_any_call(
    placement: dict[str, Any], message: str, tmp_path: Path
) -> None:
    compiled = submit.compile_for_upload("vlaa-thinker", tmp_path)
    with pytest.raises(ParameterError, match=re.escape(message)):
        submit.run_parameters(_params_file(tmp_path, placement), "paper", compiled)


def test_a_required_pipeline_parameter_must_be_given() -> None:
    compiled = _compiled_with({"gpu_type": {"parameterType": "STRING"}})
    with pytest.raises(ParameterError, match="p needs a value for gpu_type"):
        submit.run_parameters(None, "paper", compiled)


@pytest.mark.parametrize("pipeline", ["vlaa-thinker", "vlaa-sft-vs-rl"])
def test_run_arguments_match_the_local_runs_mapping(pipeline: str, tmp_path: Path) -> None:
    """The cluster run gets what `vlaa run --local` would pass the same pipeline."""
    compiled = submit.compile_for_upload(pipeline, tmp_path)
    arguments = submit.run_parameters(None, "local-cpu", compiled)
    assert arguments == kfp_arguments(validate_parameters(preset("local-cpu")), pipeline)


# --- connection and credentials -------------------------------------------------------------


def test_the_token_is_sent_as_bearer_and_never_printed(server: KfpApiDouble) -> None:
    result = _invoke("submit", "--host", server.url, env={"KFP_API_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert server.requests
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in server.requests)
    assert TOKEN not in result.output

    server.fail("POST", "/runs", 500, "internal error: database is locked")
    failed = _invoke("submit", "--host", server.url, env={"KFP_API_TOKEN": TOKEN})
    _assert_clean_failure(failed)
    assert TOKEN not in failed.output


def test_token_env_names_the_variable(server: KfpApiDouble) -> None:
    result = _invoke(
        "submit", "--host", server.url, "--token-env", "TEAM_KFP_TOKEN",
        env={"TEAM_KFP_TOKEN": TOKEN, "KFP_API_TOKEN": "not-this-one"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in server.requests)


def test_a_named_token_variable_that_is_unset_fails_before_any_call(
    server: KfpApiDouble,
) -> None:
    result = _invoke("submit", "--host", server.url, "--token-env", "MISSING_TOKEN")
    _assert_clean_failure(result)
    assert "environment variable MISSING_TOKEN (--token-env) is not set" in _plain(result.output)
    assert server.requests == []


def test_without_a_token_no_authorization_header_is_sent(server: KfpApiDouble) -> None:
    assert _invoke("submit", "--host", server.url).exit_code == 0
    assert server.requests
    assert not any("authorization" in {k.lower() for k in r.headers} for r in server.requests)


def test_the_host_can_come_from_kfp_host(server: KfpApiDouble) -> None:
    result = _invoke("submit", env={"KFP_HOST": server.url})
    assert result.exit_code == 0, result.output
    assert server.calls("POST", "/runs")


def test_api_errors_become_one_clear_line(server: KfpApiDouble) -> None:
    server.fail("POST", "/runs", 500, "internal error: database is locked")
    result = _invoke("submit", "--host", server.url, "--run-name", "r1")
    _assert_clean_failure(result)
    text = _plain(result.output)
    assert "KFP API error while creating run r1: HTTP 500 Internal Server Error" in text
    assert "database is locked" in text


def test_multi_user_kfp_needs_a_namespace(server: KfpApiDouble) -> None:
    server.multi_user = True
    result = _invoke("submit", "--host", server.url)
    _assert_clean_failure(result)
    assert "multi-user Kubeflow: pass --namespace" in _plain(result.output)
    assert [r.route for r in server.requests] == ["GET /apis/v2beta1/healthz"]

    server.requests.clear()
    result = _invoke("submit", "--host", server.url, "--namespace", "team-a")
    assert result.exit_code == 0, result.output
    listed = server.calls("GET", "/experiments")
    assert listed and all(r.query.get("namespace") == "team-a" for r in listed)
    assert _only(server.calls("POST", "/experiments")).body["namespace"] == "team-a"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("host_args", "expected"),
    [
        ([], "give the KFP API address with --host or KFP_HOST"),
        (["--host", "kfp.example:8888"], "--host 'kfp.example:8888' needs its scheme"),
        (["--host", f"http://127.0.0.1:{_closed_port()}"], "cannot reach KFP while checking"),
    ],
)
def test_host_problems_fail_clearly(host_args: list[str], expected: str) -> None:
    result = _invoke("submit", *host_args)
    _assert_clean_failure(result)
    assert expected in _plain(result.output)


# --- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["submit", "schedule"])
def test_help_explains_every_option(name: str) -> None:
    result = _invoke(name, "--help")
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    for parameter in command.params:
        if parameter.name == "help":
            continue
        assert parameter.help, f"{name}: {parameter.name} has no help"
        assert _plain(parameter.help) in text, f"{name}: help of {parameter.name} not shown"
        assert any(option in text for option in parameter.opts)
