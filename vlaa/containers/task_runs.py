"""Run one KFP task in its container and record what it ran in.

KFP's ``DockerTaskHandler.run`` calls the module-level ``run_docker_container``
(kfp/local/docker_task_handler.py, kfp 2.17). That function starts the container with
``auto_remove=True`` and, when the container is already gone at ``wait()``, returns exit code
0 ("We assume success"): with podman a task that fails fast is removed before ``wait`` and
would pass as a success. :func:`recording_task_runs` puts :func:`run_task_container` in its
place for the length of a run: the container is removed only after its exit code is read, and
each task's image (reference, image id, registry digests), exit code, seconds and last log
lines are recorded for ``run.json``.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlaa.containers.local_images import LocalImage, inspect_image, with_default_tag
from vlaa.errors import UserError

LOG_TAIL_LINES = 20


class TaskContainerFailed(UserError):
    """A task's container exited with a non-zero code."""


@dataclass
class TaskRun:
    task: str
    image: LocalImage
    exit_code: int | None = None
    seconds: float = 0.0
    container_id: str = ""
    log_tail: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "runner": "container",
            **self.image.record(),
            "container_id": self.container_id,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 1),
        }

    def failure(self) -> str:
        """One line: the task, its image, the exit code and the last line it logged."""
        last = next((line for line in reversed(self.log_tail) if line.strip()), "")
        return (
            f"task {self.task} failed inside its container (image {self.image.reference}, "
            f"exit code {self.exit_code})" + (f": {last.strip()}" if last else "")
        )


@dataclass
class TaskRunLog:
    """The containers of one run, in the order they ran."""

    engine_name: str
    runs: list[TaskRun] = field(default_factory=list)

    def failed(self) -> TaskRun | None:
        return next((run for run in self.runs if run.exit_code not in (0, None)), None)


def task_name(command: list[str]) -> str:
    """The KFP task a command belongs to: the folder of its executor output file. The local
    runner writes ``pipeline_root/<run>/<task>/executor_output.json`` into ``outputFile``
    (kfp/local/executor_input_utils.py, ``construct_local_task_root``)."""
    for flag, value in itertools.pairwise(command):
        if flag == "--executor_input":
            output_file = json.loads(value).get("outputs", {}).get("outputFile", "")
            if output_file:
                return Path(output_file).parent.name
    return "?"


_ACTIVE: TaskRunLog | None = None


def run_task_container(
    client: Any, image: str, command: list[str], volumes: dict[str, Any], **run_args: Any
) -> int:
    """KFP's ``run_docker_container`` contract (same arguments, returns the exit code), with
    the exit code read before the container is removed; no pull (the images were checked)."""
    log = _ACTIVE
    assert log is not None, "run_task_container runs inside recording_task_runs"
    run = TaskRun(task=task_name(command), image=inspect_image(client, image, log.engine_name))
    log.runs.append(run)
    started = time.monotonic()
    container = client.containers.run(
        image=with_default_tag(image),
        command=command,
        detach=True,
        stdout=True,
        stderr=True,
        volumes=volumes,
        **run_args,
    )
    run.container_id = container.id
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    try:
        for chunk in container.logs(stream=True, follow=True):
            text = chunk.decode(errors="replace")
            print(text, end="")
            tail.extend(text.splitlines())
        run.exit_code = int(container.wait()["StatusCode"])
    finally:
        run.seconds = time.monotonic() - started
        run.log_tail = list(tail)
        with contextlib.suppress(Exception):
            container.remove(force=True)
    return run.exit_code


@contextlib.contextmanager
def recording_task_runs(engine_name: str) -> Iterator[TaskRunLog]:
    """KFP's Docker task handler runs tasks through :func:`run_task_container` in the block."""
    from kfp.local import docker_task_handler

    global _ACTIVE
    original = docker_task_handler.run_docker_container
    _ACTIVE = TaskRunLog(engine_name)
    docker_task_handler.run_docker_container = run_task_container
    try:
        yield _ACTIVE
    finally:
        docker_task_handler.run_docker_container = original
        _ACTIVE = None
