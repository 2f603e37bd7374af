"""The ``vlaa`` command line: run the pipeline locally, compile it, run single steps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from vlaa.cluster import PIPELINE_SERVICE_ACCOUNT
from vlaa.errors import USER_ERROR_TYPES, describe_validation_error

app = typer.Typer(
    help="VLAA-Thinker: build the VLAA-Thinking dataset, train with SFT and/or GRPO, "
    "evaluate and publish, as a Kubeflow pipeline or on this machine.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML file with this step's config fields.")
]


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; turn input and configuration errors into one clear line."""
    try:
        return action()
    except ValidationError as error:
        _fail(describe_validation_error(error, "config"))
    except (*USER_ERROR_TYPES, ValueError, KeyError) as error:
        _fail(str(error).strip("'\""))


def _load_step_config(config_type: type, path: Path | None) -> Any:
    from vlaa.parameters import load_parameter_file

    return config_type.model_validate(load_parameter_file(path) if path else {})


@app.command()
def run(
    local: Annotated[
        bool, typer.Option("--local", help="Run on this machine (KFP local runner).")
    ] = False,
    preset: Annotated[
        str, typer.Option(help="Parameter preset: local-cpu or paper.")
    ] = "local-cpu",
    params: Annotated[
        Path | None, typer.Option("--params", help="YAML file of run parameters over the preset.")
    ] = None,
    grpo_init: Annotated[
        str | None, typer.Option(help="Arm: start GRPO from 'sft' or 'base' (overrides params).")
    ] = None,
    output: Annotated[
        Path, typer.Option(help="Folder for artifacts, registry and run.json.")
    ] = Path("runs/local"),
    pipeline: Annotated[
        str,
        typer.Option(
            help="thinker (build dataset, SFT, GRPO, evaluate, publish) or sft-vs-rl "
            "(the study: base, SFT only, GRPO only, SFT then GRPO, compared)."
        ),
    ] = "thinker",
) -> None:
    """Run a whole DAG on this machine: vlaa-thinker (default) or the vlaa-sft-vs-rl study."""
    if not local:
        _fail(
            "only --local runs start from here; run on a cluster with `vlaa submit` (or the KFP UI)"
        )

    def action() -> None:
        from vlaa.parameters import load_parameter_file, merge, validate_parameters
        from vlaa.pipelines.names import THINKER, pipeline_name
        from vlaa.presets import preset as named_preset

        chosen = pipeline_name(pipeline)

        raw = merge(named_preset(preset), load_parameter_file(params) if params else {})
        if grpo_init is not None:
            raw["grpo_init"] = grpo_init
        raw.setdefault("publish", {}).setdefault("store_uri", str((output / "registry").resolve()))
        validated = validate_parameters(raw)
        arm = f"arm grpo-from-{validated.grpo_init}" if chosen == THINKER else "all arms"
        console.rule(f"{chosen} (local, {arm})")
        # Imported after validation: KFP and the pipelines take seconds to load.
        from vlaa.pipelines.local_run import run_local

        summary = run_local(validated, output, chosen)
        _print_summary(summary, output)

    _guarded(action)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_summary(summary: dict[str, Any], output: Path) -> None:
    table = Table(title="stages")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("step seconds", justify="right")
    table.add_column("wall seconds", justify="right")
    for row in summary["stages"]:
        table.add_row(
            row["name"], row["status"], _fmt(row.get("seconds")), _fmt(row.get("wall_seconds"))
        )
    console.print(table)
    metrics = summary["metrics"]
    results = Table(title="results")
    results.add_column("measure")
    results.add_column("value", justify="right")
    if summary["pipeline"] != "vlaa-thinker":
        for key, value in metrics.items():
            results.add_row(key.replace("_", " "), _fmt(value))
        console.print(results)
        report = summary["artifacts"].get("compare.report")
        console.print(f"comparison report: {report}")
        console.print(f"total {summary['seconds']:.0f} s; details in {output / 'run.json'}")
        return
    results.add_row("eval accuracy, base model", _fmt(metrics["accuracy_before"]))
    results.add_row("eval accuracy, trained model", _fmt(metrics["accuracy_after"]))
    results.add_row("GRPO mean reward, first steps", _fmt(metrics["reward_first"]))
    results.add_row("GRPO mean reward, last steps", _fmt(metrics["reward_last"]))
    results.add_row("published version", _fmt(metrics["published_version"]))
    console.print(results)
    console.print(f"total {summary['seconds']:.0f} s; details in {output / 'run.json'}")


@app.command("compile")
def compile_command(
    output: Annotated[Path, typer.Option(help="Where to write the KFP IR YAML.")] = Path(
        "pipelines/compiled/vlaa-thinker.yaml"
    ),
    pipeline: Annotated[str, typer.Option(help="Pipeline to compile.")] = "vlaa-thinker",
    kubernetes_manifest: Annotated[
        bool,
        typer.Option(
            "--kubernetes-manifest",
            help="Write Pipeline and PipelineVersion resources for `kubectl apply` instead of "
            "IR YAML (KFP with the Kubernetes-native pipeline store).",
        ),
    ] = False,
    namespace: Annotated[
        str | None, typer.Option(help="Namespace of the resources (--kubernetes-manifest).")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(help="PipelineVersion name suffix, e.g. 0.2.0 (--kubernetes-manifest)."),
    ] = None,
) -> None:
    """Compile a pipeline to KFP IR YAML (upload it in the Kubeflow UI), or to Kubernetes
    Pipeline / PipelineVersion resources for `kubectl apply`."""
    from vlaa.pipelines.compile import compile_pipeline

    path = _guarded(
        lambda: compile_pipeline(pipeline, output, kubernetes_manifest, namespace, version)
    )
    console.print(f"wrote {path}")


# Options shared by `vlaa submit` and `vlaa schedule`.
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


def _prepared_submission(
    directory: Path, pipeline: str, params: Path | None, preset: str
) -> tuple[Any, dict[str, Any]]:
    """Compile the pipeline and build its run arguments: every local check before any call."""
    from vlaa.pipelines.names import pipeline_name
    from vlaa.pipelines.submit import cluster_warnings, compile_for_upload, run_parameters

    compiled = compile_for_upload(pipeline_name(pipeline), directory)
    arguments = run_parameters(params, preset, compiled)
    for warning in cluster_warnings(arguments):
        console.print(f"[bold yellow]warning:[/] {warning}")
    return compiled, arguments


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
    import tempfile

    from vlaa.pipelines import submit as kfp_submit

    def action() -> tuple[Any, Any, Any]:
        with tempfile.TemporaryDirectory() as directory:
            compiled, arguments = _prepared_submission(Path(directory), pipeline, params, preset)
            client = kfp_submit.connect(host, namespace, token_env)
            pipeline_version = kfp_submit.ensure_pipeline_version(
                client, compiled.name, version, compiled
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

    client, pipeline_version, started = _guarded(action)
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
    final = _guarded(
        lambda: kfp_submit.wait_for_run(client, started.run_id, timeout, poll_interval)
    )
    console.print(f"final state: {final}")
    if final != "SUCCEEDED":
        _fail(f"run {started.run_id} ended {final}")


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
    import tempfile

    from vlaa.pipelines import submit as kfp_submit

    def action() -> tuple[Any, Any, Any, Any]:
        start_time = kfp_submit.parse_time(start, "--start")
        end_time = kfp_submit.parse_time(end, "--end")
        checked_cron = kfp_submit.check_schedule(cron, max_concurrency, start_time, end_time)
        with tempfile.TemporaryDirectory() as directory:
            compiled, arguments = _prepared_submission(Path(directory), pipeline, params, preset)
            client = kfp_submit.connect(host, namespace, token_env)
            pipeline_version = kfp_submit.ensure_pipeline_version(
                client, compiled.name, version, compiled
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
        return pipeline_version, scheduled, start_time, end_time

    pipeline_version, scheduled, start_time, end_time = _guarded(action)
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


@app.command("make-tiny-model")
def make_tiny_model(
    directory: Annotated[Path, typer.Argument(help="Folder to write the model into.")],
    size: Annotated[str, typer.Option(help="tiny, 3b or 7b (random weights).")] = "tiny",
    seed: Annotated[int, typer.Option(help="Weight initialisation seed.")] = 0,
) -> None:
    """Write a Qwen2.5-VL-architecture model with random weights and a locally trained tokenizer."""
    from vlaa.modeling.factory import MODEL_SIZES, make_model

    if size not in MODEL_SIZES:
        _fail(f"--size {size!r} is not one of {', '.join(MODEL_SIZES)}")
    _guarded(lambda: make_model(directory, size=size, seed=seed))  # type: ignore[arg-type]
    info = json.loads((directory / "vlaa_model.json").read_text())
    console.print(f"wrote {size} model ({info['parameters']:,} parameters) to {directory}")


@app.command("build-dataset")
def build_dataset_command(
    output: Annotated[
        Path, typer.Option(help="Folder for the sft/, rl/, eval/ and card/ outputs.")
    ],
    config: ConfigOption = None,
) -> None:
    """Build the dataset splits and data card (the build_dataset step, without KFP)."""
    from vlaa.data.config import BuildDatasetConfig
    from vlaa.data.engine import build_dataset

    def action() -> Any:
        step_config = _load_step_config(BuildDatasetConfig, config)
        return build_dataset(
            step_config, output / "sft", output / "rl", output / "eval", output / "card"
        )

    card = _guarded(action)
    console.print(f"splits: {card.splits}; card in {output / 'card'}")


def _train(stage: str, init_model: Path, train: Path, output: Path, config: Path | None) -> None:
    from vlaa.training.steps import training_step

    config_class, train_function = training_step(stage)
    summary = _guarded(
        lambda: train_function(init_model, train, output, _load_step_config(config_class, config))
    )
    console.print({k: v for k, v in summary.items() if k != "config"})


@app.command("sft")
def sft_command(
    base_model: Annotated[Path, typer.Option(help="Model folder to start from.")],
    train: Annotated[Path, typer.Option(help="SFT split folder (records.jsonl + images/).")],
    output: Annotated[Path, typer.Option(help="Folder for the fine-tuned model.")],
    config: ConfigOption = None,
) -> None:
    """Supervised fine-tuning (the sft step, without KFP)."""
    _train("sft", base_model, train, output, config)


@app.command("grpo")
def grpo_command(
    init_model: Annotated[Path, typer.Option(help="Model folder to start from (base or SFT).")],
    train: Annotated[Path, typer.Option(help="RL split folder (records.jsonl + images/).")],
    output: Annotated[Path, typer.Option(help="Folder for the trained model.")],
    config: ConfigOption = None,
) -> None:
    """GRPO with the mixed reward (the grpo step, without KFP)."""
    _train("grpo", init_model, train, output, config)


@app.command("evaluate")
def evaluate_command(
    model: Annotated[Path, typer.Option(help="Model folder to evaluate.")],
    eval_split: Annotated[Path, typer.Option(help="Eval split folder.")],
    report: Annotated[Path, typer.Option(help="Where to write the JSON report.")],
    config: ConfigOption = None,
) -> None:
    """Greedy evaluation with accuracy per reward type (the evaluate step, without KFP)."""
    from vlaa.evaluation.config import EvaluateStepConfig
    from vlaa.evaluation.evaluate import evaluate_model
    from vlaa.evaluation.report import write_report

    result = _guarded(
        lambda: evaluate_model(model, eval_split, _load_step_config(EvaluateStepConfig, config))
    )
    write_report(result, report)
    console.print(result.metrics)


@app.command("publish")
def publish_command(
    model: Annotated[Path, typer.Option(help="Model folder to publish.")],
    config: ConfigOption = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Evaluation report JSON whose metrics go in the card.")
    ] = None,
    base_metrics: Annotated[
        Path | None,
        typer.Option(help="The base model's evaluation report JSON (for the gate's margin)."),
    ] = None,
) -> None:
    """Publish a model folder as a new version in the model store (the publish step)."""
    from vlaa.evaluation.report import EvalReport, read_report
    from vlaa.registry.config import PublishConfig
    from vlaa.registry.publish import publish

    def action() -> Any:
        report = read_report(metrics) if metrics else EvalReport()
        base = read_report(base_metrics) if base_metrics else None
        return publish(
            model,
            _load_step_config(PublishConfig, config),
            report,
            {},
            {},
            {},
            base_metrics=base,
        )

    result = _guarded(action)
    console.print(result.model_dump())


if __name__ == "__main__":
    app()
