"""``vlaa run --local --runner container``: every task in the image the compiled pipeline names,
through KFP's ``DockerRunner`` against Docker or podman (vlaa/containers/)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from google.protobuf import json_format
from kfp import local
from kfp.dsl.graph_component import GraphComponent

from vlaa.containers.engine import engine_session
from vlaa.containers.local_images import check_images
from vlaa.containers.task_env import container_run_args
from vlaa.containers.task_runs import TaskRunLog, recording_task_runs
from vlaa.pipelines.quiet import QUIET_ENV
from vlaa.stages import EVENTS_ENV


class TaskRecorder(Protocol):
    def records(self, stages: list[str]) -> list[dict[str, Any]]: ...

    def failure(self) -> str | None: ...


class SubprocessRecorder:
    """Every task ran in this Python environment."""

    def records(self, stages: list[str]) -> list[dict[str, Any]]:
        return [
            {"task": stage, "runner": "subprocess", "python": sys.executable} for stage in stages
        ]

    def failure(self) -> str | None:
        return None


class ContainerRecorder:
    """Each task's container, from :mod:`vlaa.containers.task_runs`."""

    def __init__(self, log: TaskRunLog, engine: str) -> None:
        self.log = log
        self.engine = engine

    def records(self, stages: list[str]) -> list[dict[str, Any]]:
        return [{**run.record(), "engine": self.engine} for run in self.log.runs]

    def failure(self) -> str | None:
        failed = self.log.failed()
        return failed.failure() if failed else None


def pipeline_images(pipeline: GraphComponent) -> set[str]:
    """Every image the pipeline's executors name (its deployment spec, as compiled)."""
    deployment = json_format.MessageToDict(pipeline.pipeline_spec.deployment_spec)
    return {
        executor["container"]["image"]
        for executor in deployment.get("executors", {}).values()
        if "container" in executor
    }


@contextlib.contextmanager
def container_runner(
    pipeline: GraphComponent,
    output_dir: Path,
    pipeline_root: Path,
    events_path: Path,
    verbose: bool,
    allow_stale_images: bool,
) -> Iterator[ContainerRecorder]:
    """KFP's DockerRunner on the engine found (podman's service started if needed), with the
    pipeline's images checked first and each task's container recorded."""
    with engine_session(output_dir) as engine, recording_task_runs(engine.name) as log:
        check_images(engine.client, pipeline_images(pipeline), engine.name, allow_stale_images)
        # The tasks do not inherit this process's environment (pipelines/quiet.py sets it for
        # the subprocess runner): the quiet settings go in explicitly, the user's own win.
        quiet = {} if verbose else {k: v for k, v in QUIET_ENV.items() if k not in os.environ}
        run_env = {EVENTS_ENV: str(events_path), **quiet}
        local.init(
            runner=local.DockerRunner(**container_run_args(output_dir, run_env)),
            pipeline_root=str(pipeline_root),
            raise_on_error=True,
        )
        yield ContainerRecorder(log, f"{engine.name} {engine.version}")
