"""Run a pipeline (``vlaa-thinker`` or ``vlaa-sft-vs-rl``) on this machine through KFP's local
runner: SubprocessRunner (this Python environment) or DockerRunner (each task in the image the
compiled pipeline names; pipelines/container_tasks.py)."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kfp import local
from kfp.dsl.graph_component import GraphComponent

from vlaa.errors import UserError
from vlaa.evaluation.compare import ARMS
from vlaa.parameters import RunParameters
from vlaa.pipelines import container_tasks, kubernetes
from vlaa.pipelines.names import STUDY, THINKER, check_runner, pipeline_name
from vlaa.pipelines.quiet import quiet_task_logs
from vlaa.pipelines.sft_vs_rl import vlaa_sft_vs_rl
from vlaa.pipelines.vlaa_thinker import vlaa_thinker
from vlaa.stages import EVENTS_ENV, read_events

RUN_FILE = "run.json"


class PipelineFailed(UserError, RuntimeError):
    """The local run failed; the message names the stage and its error."""


def kfp_arguments(params: RunParameters, pipeline: str = THINKER) -> dict[str, Any]:
    """The pipeline function's arguments: the run parameters under their own names (the study
    has no ``grpo_init`` or ``publish``: it runs both GRPO arms and publishes nothing)."""
    arguments = params.model_dump()
    if pipeline == STUDY:
        arguments = {k: v for k, v in arguments.items() if k not in ("grpo_init", "publish")}
    return arguments


def built_for_local(pipeline: GraphComponent) -> GraphComponent:
    """``pipeline`` built again with :func:`kubernetes.local_run` set, so its tasks carry no
    retry policy. KFP builds a pipeline's graph once, when ``@dsl.pipeline`` decorates it
    (kfp/dsl/graph_component.py, ``GraphComponent.__init__`` calls the function), and its local
    runner honours ``set_retry`` (kfp/local/orchestrator/task_executor.py): the graph built at
    import would retry a failing local task after 30 s and 60 s."""
    with kubernetes.local_run():
        return GraphComponent(
            component_spec=copy.deepcopy(pipeline.component_spec),
            pipeline_func=pipeline.pipeline_func,
            pipeline_config=pipeline.pipeline_config,
        )


@contextlib.contextmanager
def _subprocess_runner(
    pipeline_root: Path, events_path: Path
) -> Iterator[container_tasks.TaskRecorder]:
    """KFP's SubprocessRunner; its tasks inherit this process's environment (the events file)."""
    previous_events = os.environ.get(EVENTS_ENV)
    os.environ[EVENTS_ENV] = str(events_path)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    try:
        yield container_tasks.SubprocessRecorder()
    finally:
        if previous_events is None:
            os.environ.pop(EVENTS_ENV, None)
        else:
            os.environ[EVENTS_ENV] = previous_events


def run_local(
    params: RunParameters,
    output_dir: Path,
    pipeline: str = THINKER,
    verbose: bool = False,
    runner: str = "subprocess",
    allow_stale_images: bool = False,
) -> dict[str, Any]:
    """Run the whole DAG; write ``run.json`` in ``output_dir`` and return its content.
    ``verbose`` shows KFP's executor logs and library warnings (hidden otherwise); ``runner``
    is ``subprocess`` (this Python environment) or ``container`` (the pipeline's images)."""
    check_runner(runner)
    pipeline = pipeline_name(pipeline)
    pipeline_function = built_for_local(vlaa_thinker if pipeline == THINKER else vlaa_sft_vs_rl)
    output_dir = output_dir.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    events_path = output_dir / "events.jsonl"
    events_path.unlink(missing_ok=True)
    pipeline_root = output_dir / "artifacts"
    if runner == "container":
        task_runner = container_tasks.container_runner(
            pipeline_function, output_dir, pipeline_root, events_path, verbose, allow_stale_images
        )
    else:
        task_runner = _subprocess_runner(pipeline_root, events_path)
    started = time.time()
    error: str | None = None
    # The component images are not used by the subprocess runner; its warning about them is
    # noise. Resource and placement settings are for the cluster (pipelines/kubernetes.py).
    with task_runner as recorder, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*no effect in the current local runner.*")
        try:
            with quiet_task_logs(verbose):
                pipeline_function(**kfp_arguments(params, pipeline))
        except RuntimeError as failure:
            error = str(failure)
    summary = summarise(read_events(events_path), time.time() - started, params, pipeline)
    summary["status"] = "failed" if error else "succeeded"
    summary["runner"] = runner
    summary["tasks"] = recorder.records([stage["name"] for stage in summary["stages"]])
    (output_dir / RUN_FILE).write_text(json.dumps(summary, indent=2, default=str))
    if error:
        raise PipelineFailed(_failure_detail(summary, recorder, error))
    return summary


def _failure_detail(
    summary: dict[str, Any], recorder: container_tasks.TaskRecorder, error: str
) -> str:
    """The failed stage's own error when it wrote one (with the container it failed in), else
    the failed container's exit code and last log line, else KFP's message."""
    failed = [s for s in summary["stages"] if s["status"] == "failed"]
    container = recorder.failure()
    if failed:
        where = f" [{container}]" if container else ""
        return f"stage {failed[0]['name']}: {failed[0]['error']}{where}"
    return container or error


def summarise(
    events: list[dict[str, Any]],
    seconds: float,
    params: RunParameters,
    pipeline: str = THINKER,
) -> dict[str, Any]:
    """Stages (status, seconds), headline metrics and artifact locations from stage events."""
    stages: dict[str, dict[str, Any]] = {}
    for event in events:
        row = stages.setdefault(event["stage"], {"name": event["stage"]})
        row["status"] = event["status"]
        for key in ("seconds", "wall_seconds", "error", "metrics", "artifacts"):
            if key in event:
                row[key] = event[key]

    def metric(stage: str, key: str) -> Any:
        return stages.get(stage, {}).get("metrics", {}).get(key)

    if pipeline == THINKER:
        grpo_stage = f"grpo-from-{params.grpo_init}"
        metrics = {
            "accuracy_before": metric("evaluate-base", "accuracy"),
            "accuracy_after": metric("evaluate-trained", "accuracy"),
            "reward_first": metric(grpo_stage, "reward_first"),
            "reward_last": metric(grpo_stage, "reward_last"),
            "published_version": metric("publish", "version"),
        }
    else:
        metrics = {f"accuracy_{arm}": metric(f"evaluate-{arm}", "accuracy") for arm in ARMS}
        for init in ("base", "sft"):
            for key in ("reward_first", "reward_last"):
                metrics[f"{key}_grpo_from_{init}"] = metric(f"grpo-from-{init}", key)
    return {
        "pipeline": pipeline,
        "arm": f"grpo-from-{params.grpo_init}" if pipeline == THINKER else "all",
        "seconds": round(seconds, 1),
        "stages": list(stages.values()),
        "metrics": metrics,
        "artifacts": {
            f"{name}.{key}": path
            for name, row in stages.items()
            for key, path in row.get("artifacts", {}).items()
        },
        "parameters": params.model_dump(),
    }
