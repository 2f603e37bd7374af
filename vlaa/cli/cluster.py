"""``vlaa submit`` and ``vlaa schedule``: runs and recurring runs on a Kubeflow cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vlaa.cli.app import app, console, fail, guarded
from vlaa.cluster import PIPELINE_SERVICE_ACCOUNT

HostOption = Annotated[
    str | None,
    typer.Option(
        "--host",
        envvar="KFP_HOST",
        help="KFP API address with its scheme, e.g. http://localhost:8080 after `kubectl "
        "port-forward svc/ml-pipeline-ui 8080:80`. The printed UI link uses it too, unless "
        "KF_PIPELINES_UI_ENDPOINT is set.",
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(help="Your profile namespace on a multi-user Kubeflow (leave out otherwise)."),
]
PipelineOption = Annotated[
    str, typer.Option(help="Pipeline to upload and run: vlaa-thinker or vlaa-sft-vs-rl.")
]
ExperimentOption = Annotated[
    str | None,
    typer.Option(help="Experiment to run in, created if missing (default: the pipeline's name)."),
]
SubmitParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="YAML file of run parameters over the preset (the `vlaa run --params` format; "
        "pipeline parameters such as gpu_type at the top level).",
    ),
]
SubmitPresetOption = Annotated[
    str,
    typer.Option(
        help="Parameter preset under --params: paper (every step's defaults, as the run form) "
        "or local-cpu (the tiny smoke-test run)."
    ),
]
ServiceAccountOption = Annotated[
    str, typer.Option(help="Kubernetes service account the run's pods use.")
]
VersionOption = Annotated[
    str | None,
    typer.Option(
        "--version",
        help="Pipeline version name (default: <pipeline>-<hash of the compiled YAML>, so "
        "unchanged code reuses its version).",
    ),
]
TokenEnvOption = Annotated[
    str | None,
    typer.Option(
        help="Name of the environment variable holding the KFP API token (sent as a Bearer "
        "token, never printed). Default: KFP_API_TOKEN if set, else no token (port-forward)."
    ),
]


def _submission_table(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in rows:
        table.add_row(field, value)
    console.print(table)


def _checked_before_kfp(pipeline: str, params: Path | None, preset: str) -> str:
    """The pipeline's full name, once its name and the run parameters (the file over the
    preset) are valid: checked before KFP loads, so a typo answers in well under a second.
    The pipeline's own parameters (cluster settings) are checked once it is compiled."""
    from vlaa.parameters import load_parameter_file, validate_over_preset
    from vlaa.pipelines.names import pipeline_name

    name = pipeline_name(pipeline)
    validate_over_preset(load_parameter_file(params) if params else {}, preset)
    return name


def _uploaded_version(
    pipeline: str,
    params: Path | None,
    preset: str,
    connection: tuple[str | None, str | None, str | None],
    version: str | None,
) -> tuple[Any, dict[str, Any], Any, Any]:
    """Compile the pipeline, build its run arguments (every local check before any call),
    connect (host, namespace, token env), and find or upload the pipeline version."""
    import tempfile

    from vlaa.pipelines import submit as kfp_submit

    with tempfile.TemporaryDirectory() as directory:
        compiled = kfp_submit.compile_for_upload(pipeline, Path(directory))
        arguments = kfp_submit.run_parameters(params, preset, compiled)
        for warning in kfp_submit.cluster_warnings(arguments):
            console.print(f"[bold yellow]warning:[/] {warning}")
        client = kfp_submit.connect(*connection)
        pipeline_version = kfp_submit.ensure_pipeline_version(
            client, compiled.name, version, compiled
        )
    return compiled, arguments, client, pipeline_version


def _version_rows(version: Any) -> list[tuple[str, str]]:
    state = "uploaded" if version.uploaded else "reused (same content)"
    return [
        ("pipeline", f"{version.pipeline_name} ({version.pipeline_id})"),
        ("version", f"{version.version_name} ({version.version_id}), {state}"),
    ]


@app.command("submit")
def submit_command(
    host: HostOption = None,
    namespace: NamespaceOption = None,
    pipeline: PipelineOption = "vlaa-thinker",
    experiment: ExperimentOption = None,
    params: SubmitParamsOption = None,
    preset: SubmitPresetOption = "paper",
    run_name: Annotated[
        str | None, typer.Option(help="Run name (default: <pipeline>-<UTC time>).")
    ] = None,
    service_account: ServiceAccountOption = PIPELINE_SERVICE_ACCOUNT,
    version: VersionOption = None,
    token_env: TokenEnvOption = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the run to end; exit 1 unless it succeeded."),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds --wait waits before giving up (the run goes on).")
    ] = 86400.0,
    poll_interval: Annotated[
        float, typer.Option(help="Seconds between run state checks with --wait.")
    ] = 15.0,
) -> None:
    """Upload the pipeline (a new version only when its code changed) and start one run on a
    Kubeflow Pipelines server."""
    name = guarded(lambda: _checked_before_kfp(pipeline, params, preset))
    from vlaa.pipelines import submit as kfp_submit

    def action() -> tuple[Any, Any, Any]:
        compiled, arguments, client, pipeline_version = _uploaded_version(
            name, params, preset, (host, namespace, token_env), version
        )
        started = kfp_submit.submit_run(
            client,
            pipeline_version,
            arguments,
            experiment or compiled.name,
            run_name,
            service_account,
            namespace,
        )
        return client, pipeline_version, started

    client, pipeline_version, started = guarded(action)
    # printed before any waiting, so the run's id and link are shown whatever happens next
    _submission_table(
        "submitted run",
        [
            *_version_rows(pipeline_version),
            (
                "experiment",
                f"{experiment or pipeline_version.pipeline_name} ({started.experiment_id})",
            ),
            ("run", f"{started.run_name} ({started.run_id})"),
            ("service account", service_account),
            ("link", kfp_submit.ui_url(kfp_submit.check_host(host), "runs", started.run_id)),
        ],
    )
    if not wait:
        return
    console.print(f"waiting for run {started.run_id} (up to {timeout:.0f} s) ...")
    final = guarded(lambda: kfp_submit.wait_for_run(client, started.run_id, timeout, poll_interval))
    console.print(f"final state: {final}")
    if final != "SUCCEEDED":
        fail(f"run {started.run_id} ended {final}")


@app.command("schedule")
def schedule_command(
    cron: Annotated[
        str,
        typer.Option(
            help="KFP cron: six fields, seconds first, e.g. '0 0 3 * * *' (03:00 daily, in the "
            "scheduler's time zone, usually UTC); or @daily, @every 6h."
        ),
    ],
    host: HostOption = None,
    namespace: NamespaceOption = None,
    pipeline: PipelineOption = "vlaa-thinker",
    experiment: ExperimentOption = None,
    params: SubmitParamsOption = None,
    preset: SubmitPresetOption = "paper",
    run_name: Annotated[
        str | None,
        typer.Option(help="Recurring run name (default: <pipeline>-recurring)."),
    ] = None,
    service_account: ServiceAccountOption = PIPELINE_SERVICE_ACCOUNT,
    version: VersionOption = None,
    token_env: TokenEnvOption = None,
    max_concurrency: Annotated[
        int, typer.Option(help="Runs of this schedule allowed at once (1-10).")
    ] = 1,
    catchup: Annotated[
        bool,
        typer.Option(
            "--catchup/--no-catchup",
            help="After a pause, start one run per missed slot (--catchup) or only the "
            "latest (default).",
        ),
    ] = False,
    start: Annotated[
        str | None,
        typer.Option(help="First time the schedule may fire, ISO 8601 (no zone = UTC)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Time after which it stops firing, ISO 8601 (no zone = UTC)."),
    ] = None,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create the recurring run paused.")
    ] = False,
) -> None:
    """Create a recurring run (retraining on a cron schedule) of the pipeline on a Kubeflow
    Pipelines server."""
    from vlaa.pipelines.cron import check_schedule, parse_time

    def checked() -> tuple[str, Any, Any, str]:
        start_time, end_time = parse_time(start, "--start"), parse_time(end, "--end")
        checked_cron = check_schedule(cron, max_concurrency, start_time, end_time)
        return _checked_before_kfp(pipeline, params, preset), start_time, end_time, checked_cron

    name, start_time, end_time, checked_cron = guarded(checked)
    from vlaa.pipelines import submit as kfp_submit

    def action() -> tuple[Any, Any]:
        compiled, arguments, client, pipeline_version = _uploaded_version(
            name, params, preset, (host, namespace, token_env), version
        )
        scheduled = kfp_submit.schedule_run(
            client,
            pipeline_version,
            arguments,
            experiment or compiled.name,
            checked_cron,
            name=run_name,
            max_concurrency=max_concurrency,
            catchup=catchup,
            start=start_time,
            end=end_time,
            enabled=not disabled,
            service_account=service_account,
            namespace=namespace,
        )
        return pipeline_version, scheduled

    pipeline_version, scheduled = guarded(action)
    link = kfp_submit.ui_url(
        kfp_submit.check_host(host), "recurringrun", scheduled.recurring_run_id
    )
    _submission_table(
        "recurring run",
        [
            *_version_rows(pipeline_version),
            (
                "experiment",
                f"{experiment or pipeline_version.pipeline_name} ({scheduled.experiment_id})",
            ),
            ("recurring run", f"{scheduled.name} ({scheduled.recurring_run_id})"),
            ("cron", scheduled.cron),
            ("max concurrency", str(max_concurrency)),
            ("catch-up", "yes" if catchup else "no (only the latest missed run)"),
            ("starts", start_time.isoformat() if start_time else "now"),
            ("ends", end_time.isoformat() if end_time else "never"),
            ("state", "disabled" if disabled else "enabled"),
            ("service account", service_account),
            ("link", link),
        ],
    )
