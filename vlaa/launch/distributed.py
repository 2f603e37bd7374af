"""How a training step spreads over GPUs and nodes, and the launcher that makes it so.

``DistributedConfig`` (``vlaa.launch.config``) is the ``distributed`` group of the SFT and GRPO
configs. The default (one node, one GPU) keeps today's single process in the step's pod. One
node with several GPUs runs ``torchrun --nproc-per-node G -m vlaa.launch.worker`` inside the
pod. Several nodes submit a Kubeflow Trainer ``TrainJob`` (or a Training Operator
``PyTorchJob``) whose pods run the same worker under ``torchrun``; inputs and the trained model
travel through S3 (``staging_uri``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

from vlaa.errors import ConfigError
from vlaa.launch import job_specs
from vlaa.launch.config import WORKER_MODULE, DistributedConfig
from vlaa.launch.worker import download_folder, read_result, take_model, upload_folder
from vlaa.storage import object_store_uri, open_store

# ---------------------------------------------------------------------------- URIs


def staging_root(config: DistributedConfig, output_uri: str | None) -> str:
    """Where a job's staging area lives: ``staging_uri``, else beside the output artifact."""
    if config.staging_uri:
        return object_store_uri(config.staging_uri) or config.staging_uri.rstrip("/")
    beside_output = object_store_uri(output_uri)
    if beside_output:
        return beside_output + "-staging"
    raise ConfigError(
        f"distributed: nodes={config.nodes} needs distributed.staging_uri (s3://bucket/prefix) "
        "where the job's pods fetch inputs and leave the model; the step's output artifact is "
        f"not in S3 ({output_uri!r})"
    )


def join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(part.strip("/") for part in parts)])


def job_name(stage: str, run_id: str) -> str:
    """A fresh RFC 1035 name: short, so JobSet's pod host names stay under 63 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")[:16].strip("-")
    middle = f"-{slug}" if slug else ""
    return f"vlaa-{stage}{middle}-{uuid.uuid4().hex[:6]}"


def label_value(text: str) -> str:
    """``text`` made a valid label value (63 characters, alphanumerics at both ends)."""
    cleaned = re.sub(r"^[^A-Za-z0-9]+", "", re.sub(r"[^A-Za-z0-9_.-]+", "-", text))
    return re.sub(r"[^A-Za-z0-9]+$", "", cleaned[:63])


# ---------------------------------------------------------------------------- launching


class ArtifactRef(Protocol):
    """What the launcher needs of a KFP artifact: its local path and its URI."""

    path: str
    uri: str


@dataclass
class DistributedRun:
    """A finished multi-process run: the step's summary, what was launched (the ``job_spec``
    artifact: the submitted job, or how the step's pod ran torchrun) and how it ended."""

    summary: dict[str, Any]
    record: dict[str, Any]
    outcome: dict[str, Any]


def in_pod_record(config: DistributedConfig) -> dict[str, Any]:
    """The ``job_spec`` of a single-process run in the step's pod."""
    return {
        "mode": "in-pod",
        "nodes": 1,
        "processes": 1,
        "distributed": config.model_dump(mode="json"),
    }


def worker_args(
    stage: str,
    config: str,
    base_model: str,
    train_split: str,
    output: str,
    run_id: str,
    arm: str,
) -> list[str]:
    """The worker's command line after ``-m vlaa.launch.worker``."""
    return [
        "--stage",
        stage,
        "--config",
        config,
        "--base-model",
        base_model,
        "--train-split",
        train_split,
        "--output",
        output,
        "--run-id",
        run_id,
        "--arm",
        arm,
    ]


def run_distributed(
    stage: Literal["sft", "grpo"],
    step_config: BaseModel,
    base_model: ArtifactRef,
    train_split: ArtifactRef,
    model: ArtifactRef,
    run_id: str,
    arm: str,
    api_client: ApiClient | None = None,
    log_sink: Callable[[str], None] | None = None,
) -> DistributedRun:
    """Train on several processes (torchrun in this pod) or nodes (a job); the trained model
    lands in ``model.path`` as if the step had trained it here."""
    config: DistributedConfig = step_config.distributed  # type: ignore[attr-defined]
    result_dir = Path(model.path).parent / (Path(model.path).name + "-dist")
    if result_dir.exists():
        shutil.rmtree(result_dir)
    if config.needs_job():
        record, outcome = _run_as_job(
            stage, step_config, config, base_model, train_split, model, result_dir, run_id, arm,
            api_client, log_sink or _print_line,
        )  # fmt: skip
    else:
        record = _run_torchrun_in_pod(
            stage, step_config, config, base_model, train_split, result_dir, run_id, arm
        )
        outcome = {"mode": record["mode"], "processes": record["processes"], "succeeded": True}

    summary = read_result(result_dir)
    take_model(result_dir, Path(model.path))
    return DistributedRun(summary=summary, record=record, outcome=outcome)


def _print_line(line: str) -> None:
    print(line, flush=True)


def _run_torchrun_in_pod(
    stage: str,
    step_config: BaseModel,
    config: DistributedConfig,
    base_model: ArtifactRef,
    train_split: ArtifactRef,
    result_dir: Path,
    run_id: str,
    arm: str,
) -> dict[str, Any]:
    """``torchrun --standalone`` in this pod, one process per GPU, each running the worker."""
    result_dir.mkdir(parents=True)
    config_path = result_dir.parent / (result_dir.name + "-config.json")
    config_path.write_text(json.dumps(step_config.model_dump(mode="json")))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(config.processes_per_node()),
        "-m",
        WORKER_MODULE,
        *worker_args(
            stage,
            str(config_path),
            base_model.path,
            train_split.path,
            str(result_dir),
            run_id,
            arm,
        ),
        "--work-dir",
        str(result_dir.parent / (result_dir.name + "-work")),
    ]
    print(f"[vlaa] {stage}: {' '.join(command)}", flush=True)
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{stage}: torchrun with {config.processes_per_node()} processes exited with "
            f"status {completed.returncode}; the workers' errors are in the log above"
        )
    return {
        "mode": "in-pod-torchrun",
        "nodes": 1,
        "processes": config.processes_per_node(),
        "command": command,
        "distributed": config.model_dump(mode="json"),
    }


def _run_as_job(
    stage: str,
    step_config: BaseModel,
    config: DistributedConfig,
    base_model: ArtifactRef,
    train_split: ArtifactRef,
    model: ArtifactRef,
    result_dir: Path,
    run_id: str,
    arm: str,
    api_client: ApiClient | None,
    log_sink: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stage the inputs, submit the job, follow it, fetch the result into ``result_dir``.

    Returns the submitted spec and a summary of how the job ended."""
    # Imported here: the kubernetes client costs ~1 s and only multi-node runs need it.
    from vlaa.launch import trainjob

    name = job_name(stage, run_id)
    prefix = join_uri(staging_root(config, getattr(model, "uri", None)), name)
    inputs = {}
    for label, artifact in (("base_model", base_model), ("train_split", train_split)):
        in_store = object_store_uri(getattr(artifact, "uri", None))
        if in_store is None:
            in_store = join_uri(prefix, "inputs", label)
            log_sink(f"[vlaa] {stage}: staging {label} to {in_store}")
            upload_folder(Path(artifact.path), in_store)
        inputs[label] = in_store
    config_uri = join_uri(prefix, "config.json")
    open_store(prefix).put_bytes(
        "config.json", json.dumps(step_config.model_dump(mode="json"), indent=2).encode()
    )
    output_uri = join_uri(prefix, "output")
    args = worker_args(
        stage, config_uri, inputs["base_model"], inputs["train_split"], output_uri, run_id, arm
    )
    client = api_client if api_client is not None else trainjob.kubernetes_client()
    namespace = config.resolved_namespace()
    spec = job_specs.build_spec(
        config,
        name=name,
        namespace=namespace,
        image=config.image or trainjob.own_image(client, namespace),
        worker_args=args,
        priority_class=config.resolved_priority_class(),
        extra_labels={"vlaa.io/stage": stage, "vlaa.io/run-id": label_value(run_id)},
    )
    log_sink(f"[vlaa] {stage}: submitting {spec['kind']} {namespace}/{name}")
    outcome = trainjob.submit_and_wait(
        spec,
        client,
        log_sink,
        config.timeout_seconds,
        poll_interval=config.poll_interval_seconds,
        delete_on_success=config.delete_on_success,
    )
    download_folder(output_uri, result_dir, require_marker=True)
    return spec, {"mode": spec["kind"], **outcome.summary()}


def check_batch_split(
    stage: str, batch: int, per_device_batch: int, config: DistributedConfig
) -> None:
    """Fail before any pod starts when the batch does not split over every process."""
    per_step = per_device_batch * config.world_size()
    if batch % per_step:
        raise ConfigError(
            f"{stage}: batch {batch} is not a multiple of per-device batch {per_device_batch} x "
            f"{config.world_size()} processes ({config.nodes} nodes x "
            f"{config.processes_per_node()}); change the batch sizes or distributed"
        )


def write_job_record(path: Path, record: Mapping[str, Any]) -> None:
    """The ``job_spec`` artifact: YAML (a submitted job can be re-applied with kubectl)."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(record), sort_keys=False), encoding="utf-8")
