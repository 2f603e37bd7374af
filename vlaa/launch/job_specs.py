"""The Kubernetes objects of a multi-node training job: TrainJob and PyTorchJob specs.

Two engines run the same worker (``torchrun -m vlaa.launch.worker``) on N nodes x G GPUs:

- Kubeflow Trainer v2 ``TrainJob`` (``trainer.kubeflow.org/v1alpha1``): references a training
  runtime (``torch-distributed`` sets torchrun's ``PET_*`` variables); pod settings go through
  ``runtimePatches`` (Trainer >= 2.2) or ``podTemplateOverrides`` (Trainer 2.1). The API has no
  per-job priority class: the runtime's pod template carries it.
- Kubeflow Training Operator v1 ``PyTorchJob`` (``kubeflow.org/v1``): one Master and N-1
  Workers with a full pod template.

Secrets are referenced by name (``secretKeyRef``); no secret value is ever part of a spec.
Pure functions of the config: building a spec talks to no cluster.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vlaa.cluster import GPU_RESOURCE, METRICS_PORT, METRICS_PORT_NAME
from vlaa.launch.config import WORKER_MODULE, DistributedConfig

log = logging.getLogger(__name__)

PATCH_MANAGER = "vlaa.io/pipeline"  # our entry in a TrainJob's runtimePatches
TRAINER_NODE_JOB = "node"  # the replicated job (and container) of Trainer's torch runtime
SHM_VOLUME = "dshm"
FAILED = "Failed"
# Argo runs a KFP component in the container "main"; the pod's name is its host name.
STEP_CONTAINER = "main"
MAX_UNANSWERED_POLLS = 30  # consecutive failed polls (5 minutes at the default interval)


@dataclass(frozen=True)
class JobKind:
    """A custom resource kind that runs the training pods."""

    kind: str
    group: str
    version: str
    plural: str
    container: str  # the training container, whose log is streamed
    succeeded: str  # the condition type that means success

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def pod_selector(self, name: str) -> str:
        if self.kind == "TrainJob":  # JobSet labels its pods with the TrainJob's name
            return f"jobset.sigs.k8s.io/jobset-name={name}"
        return f"training.kubeflow.org/job-name={name}"


TRAINJOB = JobKind("TrainJob", "trainer.kubeflow.org", "v1alpha1", "trainjobs", "node", "Complete")
PYTORCHJOB = JobKind("PyTorchJob", "kubeflow.org", "v1", "pytorchjobs", "pytorch", "Succeeded")
JOB_KINDS = {kind.kind: kind for kind in (TRAINJOB, PYTORCHJOB)}


# ---------------------------------------------------------------------------- specs


def job_env(config: DistributedConfig) -> list[dict[str, Any]]:
    """The workers' environment: settings from the ConfigMap and the S3 keys from the Secret,
    both by reference (the values never appear in the spec)."""
    env: list[dict[str, Any]] = [{"name": "PYTHONUNBUFFERED", "value": "1"}]
    for key in config.runtime_env_keys:
        reference = {"name": config.runtime_env_config_map, "key": key, "optional": True}
        env.append({"name": key, "valueFrom": {"configMapKeyRef": reference}})
    for key in config.s3_secret_keys:
        reference = {"name": config.s3_secret, "key": key}
        env.append({"name": key, "valueFrom": {"secretKeyRef": reference}})
    return env


def resources_per_node(config: DistributedConfig) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if config.gpus_per_node:
        resources["limits"] = {GPU_RESOURCE: str(config.gpus_per_node)}
    requests = {"cpu": config.cpu_per_node, "memory": config.memory_per_node}
    if any(requests.values()):
        resources["requests"] = {key: value for key, value in requests.items() if value}
    return resources


def _shm_volume(config: DistributedConfig) -> dict[str, Any]:
    return {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": config.shm_size}}


def _shm_mount() -> dict[str, Any]:
    return {"name": SHM_VOLUME, "mountPath": "/dev/shm"}


def _scheduling(config: DistributedConfig) -> dict[str, Any]:
    placement: dict[str, Any] = {}
    if config.node_selector:
        placement["nodeSelector"] = dict(config.node_selector)
    if config.tolerations:
        placement["tolerations"] = [t.as_kubernetes() for t in config.tolerations]
    return placement


def _metadata(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(labels)}


def build_trainjob_spec(
    config: DistributedConfig,
    *,
    name: str,
    namespace: str,
    image: str,
    worker_args: Sequence[str],
    extra_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Kubeflow Trainer ``TrainJob``: ``nodes`` pods of the runtime's ``node`` job, each
    running ``torchrun -m vlaa.launch.worker`` with ``gpus_per_node`` processes."""
    labels = {**config.labels, **(extra_labels or {})}
    pod_spec = {
        # Trainer's pod overrides take serviceAccountName but not automountServiceAccountToken:
        # the worker account itself turns the token off (manifests/base/rbac).
        "serviceAccountName": config.service_account,
        **_scheduling(config),
        "volumes": [_shm_volume(config)],
        "containers": [{"name": TRAINER_NODE_JOB, "volumeMounts": [_shm_mount()]}],
    }
    pod_metadata = {"labels": labels}
    trainer: dict[str, Any] = {
        "image": image,
        "command": ["torchrun"],
        "args": ["-m", WORKER_MODULE, *worker_args],
        "env": job_env(config),
        "numNodes": config.nodes,
        "numProcPerNode": config.processes_per_node(),
    }
    resources = resources_per_node(config)
    if resources:
        trainer["resourcesPerNode"] = resources
    spec: dict[str, Any] = {
        "runtimeRef": {
            "name": config.runtime,
            "apiGroup": TRAINJOB.group,
            "kind": config.runtime_kind,
        },
        "trainer": trainer,
    }
    if config.trainer_api == "runtime-patches":
        pod_template = {"metadata": pod_metadata, "spec": pod_spec}
        replicated_job = {
            "name": TRAINER_NODE_JOB,
            "template": {"spec": {"template": pod_template}},
        }
        spec["runtimePatches"] = [
            {
                "manager": PATCH_MANAGER,
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [replicated_job]}}},
            }
        ]
    else:  # Trainer 2.1
        spec["podTemplateOverrides"] = [
            {
                "targetJobs": [{"name": TRAINER_NODE_JOB}],
                "metadata": pod_metadata,
                "spec": pod_spec,
            }
        ]
    return {
        "apiVersion": TRAINJOB.api_version,
        "kind": TRAINJOB.kind,
        "metadata": _metadata(name, namespace, labels),
        "spec": spec,
    }


def build_pytorchjob_spec(
    config: DistributedConfig,
    *,
    name: str,
    namespace: str,
    image: str,
    worker_args: Sequence[str],
    priority_class: str,
    extra_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Training Operator ``PyTorchJob``: a Master and ``nodes - 1`` Workers, each running
    torchrun with the node rank and rendezvous address the operator puts in the environment."""
    labels = {**config.labels, **(extra_labels or {})}
    container: dict[str, Any] = {
        "name": PYTORCHJOB.container,
        "image": image,
        "command": ["torchrun"],
        # $(VAR) is expanded by Kubernetes from the env the operator adds to this container.
        "args": [
            f"--nnodes={config.nodes}",
            f"--nproc-per-node={config.processes_per_node()}",
            "--node-rank=$(RANK)",
            "--master-addr=$(MASTER_ADDR)",
            "--master-port=$(MASTER_PORT)",
            "-m",
            WORKER_MODULE,
            *worker_args,
        ],
        "env": job_env(config),
        "volumeMounts": [_shm_mount()],
        # The PodMonitor keeps this port's target (the operator adds pytorchjob-port 23456).
        "ports": [{"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT}],
    }
    resources = resources_per_node(config)
    if resources:
        container["resources"] = resources
    template = {
        "metadata": {"labels": labels},
        "spec": {
            "priorityClassName": priority_class,
            "serviceAccountName": config.service_account,
            "automountServiceAccountToken": False,  # the workers never call the API
            **_scheduling(config),
            "volumes": [_shm_volume(config)],
            "containers": [container],
        },
    }
    # Never restart a pod alone: torchrun's rendezvous needs every node; the step fails and
    # KFP's retry (or a rerun) starts the job again.
    replica_specs = {"Master": {"replicas": 1, "restartPolicy": "Never", "template": template}}
    if config.nodes > 1:
        replica_specs["Worker"] = {
            "replicas": config.nodes - 1,
            "restartPolicy": "Never",
            "template": template,
        }
    return {
        "apiVersion": PYTORCHJOB.api_version,
        "kind": PYTORCHJOB.kind,
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "nprocPerNode": str(config.processes_per_node()),
            "runPolicy": {
                "cleanPodPolicy": "None",  # keep pods (and logs) until the job is deleted
                "backoffLimit": 0,
                "activeDeadlineSeconds": math.ceil(config.timeout_seconds),
            },
            "pytorchReplicaSpecs": replica_specs,
        },
    }


def build_spec(
    config: DistributedConfig,
    *,
    name: str,
    namespace: str,
    image: str,
    worker_args: Sequence[str],
    priority_class: str,
    extra_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The job for ``config.backend``."""
    common = {
        "name": name,
        "namespace": namespace,
        "image": image,
        "worker_args": worker_args,
        "extra_labels": extra_labels,
    }
    if config.backend == "pytorchjob":
        return build_pytorchjob_spec(config, priority_class=priority_class, **common)
    return build_trainjob_spec(config, **common)
