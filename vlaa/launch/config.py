"""The ``distributed`` group of the SFT and GRPO configs: how wide a training step runs.

Torch-free and environment-free while validating (the namespace, priority class and image are
resolved when a job is submitted, in the step's pod), so a config validates the same way on a
laptop, in the prepare step and in the training step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vlaa.cluster import (
    DEFAULT_PRIORITY_CLASS,
    GPU_RESOURCE,
    METRICS_LABEL,
    PRIORITY_CLASS_ENV,
    RUNTIME_CONFIG_MAP,
    S3_SECRET,
    S3_SECRET_KEYS,
    TRAINING_ENV_KEYS,
    TRAINING_WORKER_SERVICE_ACCOUNT,
)

# Kubeflow Trainer's PyTorch runtime: torchrun reads the PET_* variables it sets. (The
# "deepspeed-distributed" runtime launches through MPI and the deepspeed launcher instead; here
# DeepSpeed runs inside torchrun's processes, configured by the step's `deepspeed` field.)
DEFAULT_RUNTIME = "torch-distributed"
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
WORKER_MODULE = "vlaa.launch.worker"

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
        default_factory=lambda: dict([METRICS_LABEL]),
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
    runtime_env_config_map: str = RUNTIME_CONFIG_MAP
    runtime_env_keys: list[str] = Field(default_factory=lambda: list(TRAINING_ENV_KEYS))
    s3_secret: str = Field(S3_SECRET, description="Secret with the S3 keys (read by name)")
    service_account: str = Field(
        TRAINING_WORKER_SERVICE_ACCOUNT,
        min_length=1,
        description="service account of the job's pods (default: one without permissions or "
        "token, manifests/base/rbac)",
    )
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
