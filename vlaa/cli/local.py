"""``vlaa run --local`` (a whole DAG on this machine) and ``vlaa compile``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vlaa.cli.app import app, console, fail, guarded


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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="Show KFP's executor logs and library warnings (hidden by default)."
        ),
    ] = False,
    runner: Annotated[
        str,
        typer.Option(
            help="subprocess (every task in this Python environment) or container (each task "
            "in the image the pipeline names, with Docker or podman; docs/containers.md)."
        ),
    ] = "subprocess",
    allow_stale_images: Annotated[
        bool,
        typer.Option(
            "--allow-stale-images",
            help="With --runner container: run images built from other sources than this "
            "checkout (refused by default).",
        ),
    ] = False,
) -> None:
    """Run a whole DAG on this machine: vlaa-thinker (default) or the vlaa-sft-vs-rl study."""
    if not local:
        fail(
            "only --local runs start from here; run on a cluster with `vlaa submit` (or the KFP UI)"
        )

    def action() -> None:
        from vlaa.parameters import load_parameter_file, merge, validate_parameters
        from vlaa.pipelines.names import THINKER, check_runner, pipeline_name

        check_runner(runner)
        from vlaa.presets import preset as named_preset

        chosen = pipeline_name(pipeline)

        raw = merge(named_preset(preset), load_parameter_file(params) if params else {})
        if grpo_init is not None:
            raw["grpo_init"] = grpo_init
        raw.setdefault("publish", {}).setdefault("store_uri", str((output / "registry").resolve()))
        validated = validate_parameters(raw)
        arm = f"arm grpo-from-{validated.grpo_init}" if chosen == THINKER else "all arms"
        console.rule(f"{chosen} (local, {runner} runner, {arm})")
        # Imported after validation: KFP and the pipelines take seconds to load.
        from vlaa.pipelines.local_run import run_local

        summary = run_local(validated, output, chosen, verbose, runner, allow_stale_images)
        _print_summary(summary, output)

    guarded(action)


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
        console.print(f"comparison report: {report}", soft_wrap=True)  # a path whole
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
    output: Annotated[
        Path | None,
        typer.Option(
            help="Where to write it (default: pipelines/compiled/PIPELINE.yaml, or "
            "PIPELINE.kubernetes.yaml with --kubernetes-manifest)."
        ),
    ] = None,
    pipeline: Annotated[
        str, typer.Option(help="Pipeline to compile: thinker or sft-vs-rl (or the full name).")
    ] = "vlaa-thinker",
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
    from vlaa.pipelines.names import pipeline_name

    name = guarded(lambda: pipeline_name(pipeline))
    # Each pipeline has its own default file: compiling one never overwrites the other.
    suffix = ".kubernetes.yaml" if kubernetes_manifest else ".yaml"
    target = output or Path("pipelines/compiled") / f"{name}{suffix}"
    from vlaa.pipelines.compile import compile_pipeline

    path = guarded(lambda: compile_pipeline(name, target, kubernetes_manifest, namespace, version))
    console.print(f"wrote {path}")


# Options shared by `vlaa submit` and `vlaa schedule`.
