"""How a training step spreads over GPUs and nodes, and the launcher that makes it so.

``DistributedConfig`` is the ``distributed`` group of the SFT and GRPO configs. The default (one
node, one GPU) keeps today's single process in the step's pod. One node with several GPUs runs
``torchrun --nproc-per-node G -m vlaa.training.worker`` inside the pod. Several nodes submit a
Kubeflow Trainer ``TrainJob`` (or a Training Operator ``PyTorchJob``) whose pods run the same
worker under ``torchrun``; inputs and the trained model travel through S3 (``staging_uri``).

Nothing here reads the environment while validating: the namespace, priority class and image
are resolved when a job is submitted, in the step's pod, so a config validates the same way on
a laptop, in the prepare step and in the training step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

# Kubeflow Trainer's PyTorch runtime: torchrun reads the PET_* variables it sets. (The
# "deepspeed-distributed" runtime launches through MPI and the deepspeed launcher instead; here
# DeepSpeed runs inside torchrun's processes, configured by the step's `deepspeed` field.)
DEFAULT_RUNTIME = "torch-distributed"
GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_PRIORITY_CLASS = "vlaa-gpu-training"  # manifests/base/scheduling
PRIORITY_CLASS_ENV = "VLAA_PRIORITY_CLASS"  # set per overlay in ConfigMap vlaa-runtime-env
METRICS_LABEL = "vlaa.io/metrics"  # the PodMonitor scrapes pods that carry it
RUNTIME_ENV_CONFIG_MAP = "vlaa-runtime-env"
RUNTIME_ENV_KEYS = ("VLAA_S3_ENDPOINT", "AWS_REGION", "VLAA_PUSHGATEWAY_URL", "VLAA_METRICS_PORT")
S3_SECRET = "vlaa-s3-credentials"
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
WORKER_MODULE = "vlaa.training.worker"

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_LABEL_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Toleration(BaseModel):
    """A Kubernetes toleration (the field names of the Pod API, snake_case accepted too)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, alias="tolerationSeconds", ge=0)

    def as_kubernetes(self) -> dict[str, Any]:
        fields = {
            "key": self.key,
            "operator": self.operator,
            "value": self.value,
            "effect": self.effect,
            "tolerationSeconds": self.toleration_seconds,
        }
        return {name: value for name, value in fields.items() if value is not None}


def _gpu_toleration() -> list[Toleration]:
    return [Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")]


class DistributedConfig(BaseModel):
    """Where and how wide a training step runs; the default is one process in the step's pod."""

    model_config = ConfigDict(extra="forbid")

    nodes: int = Field(1, ge=1, description="nodes (pods) to train on; >1 submits a job")
    gpus_per_node: int = Field(
        1, ge=0, description="GPUs per node, one process each (0: one CPU process, smoke tests)"
    )
    backend: Literal["trainjob", "pytorchjob"] = Field(
        "trainjob",
        description="Kubeflow Trainer v2 TrainJob, or Training Operator v1 PyTorchJob",
    )
    runtime: str = Field(
        DEFAULT_RUNTIME, min_length=1, description="TrainJob: the training runtime to reference"
    )
    runtime_kind: Literal["ClusterTrainingRuntime", "TrainingRuntime"] = "ClusterTrainingRuntime"
    trainer_api: Literal["runtime-patches", "pod-template-overrides"] = Field(
        "runtime-patches",
        description="TrainJob pod settings field: runtimePatches (Trainer >= 2.2) or "
        "podTemplateOverrides (Trainer 2.1)",
    )
    image: str | None = Field(
        None, description="worker image (default: the step pod's own image, else TRAINER_IMAGE)"
    )
    namespace: str | None = Field(
        None, description="namespace of the job (default: the step pod's namespace)"
    )
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=_gpu_toleration)
    priority_class: str | None = Field(
        None,
        description=f"PyTorchJob pods' priorityClassName (default: ${PRIORITY_CLASS_ENV}, else "
        f"{DEFAULT_PRIORITY_CLASS}); a TrainJob takes it from its training runtime",
    )
    labels: dict[str, str] = Field(
        default_factory=lambda: {METRICS_LABEL: "true"},
        description="labels of the job's pods (vlaa.io/metrics=true: scraped by the PodMonitor)",
    )
    staging_uri: str | None = Field(
        None,
        description="s3://bucket/prefix where the job's inputs and outputs are exchanged "
        "(default: beside the step's output artifact when that lives in S3)",
    )
    shm_size: str = Field("16Gi", description="size of /dev/shm (NCCL and data loaders need it)")
    cpu_per_node: str | None = Field(None, description="CPU request per node, e.g. '32'")
    memory_per_node: str | None = Field(None, description="memory request per node, e.g. '256Gi'")
    runtime_env_config_map: str = RUNTIME_ENV_CONFIG_MAP
    runtime_env_keys: list[str] = Field(default_factory=lambda: list(RUNTIME_ENV_KEYS))
    s3_secret: str = Field(S3_SECRET, description="Secret with the S3 keys (read by name)")
    s3_secret_keys: list[str] = Field(default_factory=lambda: list(S3_SECRET_KEYS))
    poll_interval_seconds: float = Field(10.0, gt=0)
    timeout_seconds: float = Field(72 * 3600.0, gt=0, description="delete the job after this")
    delete_on_success: bool = Field(
        True, description="delete a finished job (its logs are in the step's log already)"
    )

    @field_validator("shm_size", "cpu_per_node", "memory_per_node")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None and not _QUANTITY.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. '16Gi', '500m', '8')")
        return value

    @field_validator("labels", "node_selector")
    @classmethod
    def _label_pairs(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _LABEL_NAME.match(name) or len(name.rpartition("/")[2]) > 63:
                raise ValueError(f"{name!r} is not a valid Kubernetes label name")
            if not _LABEL_VALUE.match(text) or len(text) > 63:
                raise ValueError(f"{name}={text!r}: not a valid Kubernetes label value")
        return value

    @field_validator("runtime_env_keys", "s3_secret_keys")
    @classmethod
    def _env_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value

    @field_validator("staging_uri")
    @classmethod
    def _staging(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme
        if scheme not in ("s3", "minio", "file") and not value.startswith("/"):
            raise ValueError(
                f"staging_uri {value!r}: use s3://bucket/prefix (or an absolute path that "
                "every node mounts)"
            )
        return value

    @model_validator(mode="after")
    def _processes_fit(self) -> DistributedConfig:
        if self.nodes > 1 and self.gpus_per_node == 0 and self.backend == "pytorchjob":
            # Training Operator v1 only counts GPUs through nprocPerNode; CPU jobs use TrainJob.
            raise ValueError("backend=pytorchjob needs gpus_per_node >= 1")
        return self

    # ------------------------------------------------------------------ how it runs

    def needs_job(self) -> bool:
        """Several nodes: the step submits a job; one node stays in the step's pod."""
        return self.nodes > 1

    def processes_per_node(self) -> int:
        return max(1, self.gpus_per_node)

    def world_size(self) -> int:
        return self.nodes * self.processes_per_node()

    def runs_torchrun_in_pod(self) -> bool:
        """One node with several GPUs: torchrun in the step's pod, one process per GPU."""
        return not self.needs_job() and self.processes_per_node() > 1

    def is_single_process(self) -> bool:
        return self.world_size() == 1

    # ------------------------------------------------------------------ resolved at submit time

    def resolved_namespace(self, namespace_file: Path | None = None) -> str:
        if self.namespace:
            return self.namespace
        try:
            return (namespace_file or NAMESPACE_FILE).read_text().strip() or "default"
        except OSError:
            return "default"

    def resolved_priority_class(self, env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        return self.priority_class or env.get(PRIORITY_CLASS_ENV) or DEFAULT_PRIORITY_CLASS


# ---------------------------------------------------------------------------- URIs


def object_store_uri(uri: str | None) -> str | None:
    """The s3:// form of a KFP artifact URI in an object store, else None.

    KFP writes MinIO artifacts as ``minio://bucket/key``; the S3 API names them ``s3://``.
    """
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme in ("s3", "minio") and parts.netloc:
        return f"s3://{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    return None


def staging_root(config: DistributedConfig, output_uri: str | None) -> str:
    """Where a job's staging area lives: ``staging_uri``, else beside the output artifact."""
    if config.staging_uri:
        return object_store_uri(config.staging_uri) or config.staging_uri.rstrip("/")
    beside_output = object_store_uri(output_uri)
    if beside_output:
        return beside_output + "-staging"
    from vlaa.training.common import ConfigError

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
    """The worker's command line after ``-m vlaa.training.worker``."""
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
    from vlaa.training.worker import read_result, take_model

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
    from vlaa.storage import open_store
    from vlaa.training import trainjob
    from vlaa.training.worker import download_folder, upload_folder

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
    spec = trainjob.build_spec(
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
    from vlaa.training.common import ConfigError

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
