"""Kubernetes settings of the pipeline tasks (kfp-kubernetes 2.17): where each step runs, what
it reads from the cluster, how long it may take, whether it is cached and retried.

One call per task, ``configure(task, cluster)``; the per-step choices are in :data:`STEPS`.

* GPU steps (sft, grpo, evaluate) request ``gpu_count`` accelerators of ``gpu_type``, tolerate
  the ``nvidia.com/gpu`` taint and carry the run's ``gpu_node_selector`` and
  ``gpu_tolerations`` (extra taints of a GPU pool); a memory-backed ``/dev/shm``
  (PyTorch data loader workers, NCCL, vLLM). CPU steps get no accelerator and no toleration:
  GPU nodes carry the ``nvidia.com/gpu:NoSchedule`` taint (GPU Operator / cloud GPU pools), so
  CPU pods stay off them; ``cpu_node_selector`` may pin them to a pool.
* Every step reads ConfigMap ``vlaa-runtime-env`` and Secret ``vlaa-s3-credentials`` as env
  (publish: ``vlaa-s3-publisher``; sft/grpo also mount the training launcher's token,
  docs/cluster.md); build_dataset also reads the teacher API keys (Secret
  ``vlaa-teacher-api-keys``, optional) and mounts the teacher cache (PVC
  ``vlaa-teacher-cache``); prepare reads the Hugging Face token (Secret ``vlaa-hf-token``,
  optional) and mounts the Hugging Face cache (PVC ``vlaa-hf-cache``, HF_HOME) for hf:// base
  models. Only names are compiled in, never values.
* sft and grpo mount the checkpoint volume (PVC ``vlaa-checkpoints``) at
  ``VLAA_CHECKPOINT_ROOT``, so a retry resumes from the last checkpoint.
* ``priorityClassName`` cannot be set: kfp-kubernetes 2.17's ``KubernetesExecutorConfig`` has
  no such field. GPU pods carry the label ``vlaa.io/gpu-task: "true"`` instead, for a cluster
  admission policy to key on (none is shipped); see manifests/README.md.

KFP's local runner ignores the platform settings and resource requests (it warns that they are
no-ops) but honours retries and caching options: a step that fails locally is retried too.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kfp import kubernetes
from kfp.dsl import PipelineTask
from kfp.dsl.pipeline_channel import PipelineChannel, PipelineParameterChannel

from vlaa.cluster import (
    CHECKPOINT_MOUNT,
    CHECKPOINT_PVC,
    GPU_RESOURCE,
    GPU_TASK_LABEL,
    HF_CACHE_MOUNT,
    HF_CACHE_PVC,
    HF_SECRET,
    HF_SECRET_KEYS,
    METRICS_LABEL,
    RUNTIME_CONFIG_MAP,
    RUNTIME_ENV_KEYS,
    S3_PUBLISHER_SECRET,
    S3_SECRET,
    S3_SECRET_KEYS,
    TEACHER_CACHE_MOUNT,
    TEACHER_CACHE_PVC,
    TEACHER_SECRET,
    TEACHER_SECRET_KEYS,
    TRAINING_LAUNCHER_TOKEN_DIR,
    TRAINING_LAUNCHER_TOKEN_SECRET,
)

# --- pod settings ------------------------------------------------------------------------------

SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"
SHM_SIZE = "16Gi"  # memory-backed: counts against the node's memory, bounded by this limit

# --- run parameters (defaults of the pipelines' cluster parameters) ----------------------------

GPU_TYPE = GPU_RESOURCE
# GPUs of each GPU pod (sft, grpo, evaluate alike). Training inside the pod (distributed.nodes
# = 1) runs distributed.gpus_per_node processes: gpu_count must be at least that. With nodes > 1
# the step's pod only submits and follows a TrainJob, and its GPUs idle.
# A STRING run parameter, never an int: KFP's driver resolves accelerator placeholders with
# resolvePodSpecInputRuntimeParameter (backend/src/v2/driver/resolve.go), which returns
# `val.GetStringValue()`; a NUMBER_INTEGER value reads as "" and initPodSpecPatch
# (driver.go) then silently sets no nvidia.com/gpu limit. KFP's own
# test_data/.../pipeline_with_string_machine_fields_pipeline_input.py passes them as str.
GPU_COUNT = "1"
# Any node with the GPU resource; set e.g. {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
# (GPU feature discovery) or {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}.
GPU_NODE_SELECTOR: dict[str, str] = {}
# Every GPU pod tolerates the GPU taint; the run parameter adds a pool's own taints (e.g.
# {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}). Not a
# parameter default: KFP 2.17 writes a non-empty dict default into the compiled YAML's header
# in a different key order each process, so the committed YAML would never be reproducible.
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
GPU_TOLERATIONS: list[dict[str, str]] = []
CPU_NODE_SELECTOR: dict[str, str] = {}  # any untainted node
CLUSTER_PARAMETERS = (
    "gpu_type",
    "gpu_count",
    "gpu_node_selector",
    "gpu_tolerations",
    "cpu_node_selector",
)

HOUR = 3600
RETRY_BACKOFF_SECONDS = 30  # then 60, 120, ... (factor 2)
RETRY_BACKOFF_FACTOR = 2.0


class Placement(Enum):
    CPU = "cpu"
    GPU = "gpu"


@dataclass(frozen=True)
class Step:
    """How one component runs on the cluster."""

    placement: Placement
    timeout_seconds: int  # the pod's activeDeadlineSeconds, per attempt
    retries: int
    caching: bool
    cpu_request: str
    memory_request: str
    metrics_label: bool = False  # serves /metrics for the PodMonitor
    teacher: bool = False  # teacher API keys and the teacher cache volume
    hf_cache: bool = False  # Hugging Face token and cache volume (hf:// base models)
    checkpoints: bool = False  # the checkpoint volume (training resumes on a retry)

    def retry_window_seconds(self) -> int:
        """Argo stops retrying once this long has passed since the first attempt started
        (``backoff.maxDuration``), so it spans every attempt at full length plus the waits."""
        waits = sum(
            RETRY_BACKOFF_SECONDS * RETRY_BACKOFF_FACTOR**attempt for attempt in range(self.retries)
        )
        return (self.retries + 1) * self.timeout_seconds + int(waits)


# Caching: on for steps whose outputs are a function of their inputs (artifacts, config,
# image); off where a step has side effects (publish writes the model registry: a cache hit
# would publish nothing) or reads inputs outside the DAG that may change under the same
# parameters (prepare: a base-model path; build_dataset: a source folder, teacher models).
# KFP keys the cache on the resolved inputs, and sft/grpo/evaluate take `run_id` = the run's
# display name, so two runs share cached steps only when their display names are equal.
# Retries: on where running again is safe and resumes work: prepare and compare are idempotent,
# build_dataset resumes from the teacher cache (no teacher call is paid twice), evaluate
# rewrites its outputs, publish resumes an interrupted version and never overwrites one.
# Training too: its checkpoints live on the checkpoint volume (vlaa-checkpoints), in a folder
# keyed by the run, step and inputs, so a retried or evicted sft/grpo resumes from its last
# complete checkpoint. Not multi-node runs (distributed.nodes > 1): their workers keep
# checkpoints on their own disks, and a retry starts the job from step 0.
STEPS: dict[str, Step] = {
    "prepare": Step(Placement.CPU, 2 * HOUR, 2, False, "1", "4Gi", hf_cache=True),
    "build-dataset": Step(Placement.CPU, 72 * HOUR, 2, False, "2", "8Gi", teacher=True),
    "sft": Step(
        Placement.GPU, 72 * HOUR, 2, True, "4", "16Gi", metrics_label=True, checkpoints=True
    ),
    "grpo": Step(
        Placement.GPU, 120 * HOUR, 2, True, "4", "16Gi", metrics_label=True, checkpoints=True
    ),
    "evaluate": Step(Placement.GPU, 24 * HOUR, 2, True, "4", "16Gi"),
    "publish": Step(Placement.CPU, 4 * HOUR, 2, False, "1", "4Gi"),
    "compare": Step(Placement.CPU, 1 * HOUR, 2, True, "1", "2Gi"),
}


# Least privilege (docs/cluster.md): publish writes the model registry with its own MinIO user;
# every other step uses the pipeline's. Only the training steps, which submit multi-node jobs,
# mount the training launcher's token (KFP gives every task of a run the same service account).
S3_SECRET_OF_STEP = {"publish": S3_PUBLISHER_SECRET}
JOB_SUBMITTER_STEPS = frozenset({"sft", "grpo"})


@dataclass(frozen=True)
class Cluster:
    """The pipeline's cluster run parameters (channels inside a pipeline function). KFP
    resolves each from one whole parameter, so they cannot be grouped into one dict."""

    gpu_type: PipelineParameterChannel | str
    gpu_count: PipelineParameterChannel | str  # a STRING parameter (see GPU_COUNT)
    gpu_node_selector: PipelineParameterChannel | dict[str, str]
    gpu_tolerations: PipelineParameterChannel | list[dict[str, Any]]
    cpu_node_selector: PipelineParameterChannel | dict[str, str]


# Set while `vlaa run --local` builds the DAG: a failing local task should fail the run at once,
# not after the cluster's retry backoff (30 s, 60 s) spent on a laptop.
_LOCAL_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("vlaa_local_run", default=False)


@contextlib.contextmanager
def local_run() -> Iterator[None]:
    """Build the DAG for KFP's local runner: no task retries (everything else is ignored
    there anyway)."""
    token = _LOCAL_RUN.set(True)
    try:
        yield
    finally:
        _LOCAL_RUN.reset(token)


def configure(task: PipelineTask, cluster: Cluster) -> PipelineTask:
    """Apply the cluster settings of ``task``'s component (:data:`STEPS`); returns ``task``."""
    name = task.component_spec.name
    if name not in STEPS:
        raise KeyError(f"no Kubernetes settings for component {name!r}; add it to STEPS")
    step = STEPS[name]
    use_runtime_env(task, S3_SECRET_OF_STEP.get(name, S3_SECRET))
    if name in JOB_SUBMITTER_STEPS:
        kubernetes.use_secret_as_volume(
            task, TRAINING_LAUNCHER_TOKEN_SECRET, mount_path=TRAINING_LAUNCHER_TOKEN_DIR
        )
    if step.placement is Placement.GPU:
        place_on_gpu(task, cluster)
    else:
        place_on_cpu(task, cluster)
    task.set_cpu_request(step.cpu_request).set_memory_request(step.memory_request)
    if step.metrics_label:
        kubernetes.add_pod_label(task, *METRICS_LABEL)
    if step.teacher:
        use_teacher(task)
    if step.hf_cache:
        use_hf_cache(task)
    if step.checkpoints:
        kubernetes.mount_pvc(task, CHECKPOINT_PVC, CHECKPOINT_MOUNT)
    kubernetes.set_timeout(task, step.timeout_seconds)
    task.set_caching_options(enable_caching=step.caching)
    if step.retries and not _LOCAL_RUN.get():
        task.set_retry(
            num_retries=step.retries,
            backoff_duration=f"{RETRY_BACKOFF_SECONDS}s",
            backoff_factor=RETRY_BACKOFF_FACTOR,
            backoff_max_duration=f"{step.retry_window_seconds()}s",
        )
    return task


def use_runtime_env(task: PipelineTask, s3_secret: str = S3_SECRET) -> PipelineTask:
    """Endpoints and bucket names from the ConfigMap, the S3 keys from the Secret (by name)."""
    kubernetes.use_config_map_as_env(
        task, RUNTIME_CONFIG_MAP, {key: key for key in RUNTIME_ENV_KEYS}
    )
    kubernetes.use_secret_as_env(task, s3_secret, {key: key for key in S3_SECRET_KEYS})
    return task


def place_on_gpu(task: PipelineTask, cluster: Cluster) -> PipelineTask:
    """Accelerators, GPU pool selector and tolerations from the run; shared memory."""
    for name in ("gpu_type", "gpu_count"):
        value = getattr(cluster, name)
        if isinstance(value, PipelineChannel) and value.channel_type != "String":
            raise TypeError(
                f"{name} must be a str pipeline parameter, not {value.channel_type}: KFP's "
                "driver reads accelerator placeholders as strings and drops any other type"
            )
    task.set_accelerator_type(cluster.gpu_type).set_accelerator_limit(cluster.gpu_count)
    # KFP 2.17 turns resource channels into placeholders without recording them as inputs of
    # the task, so a task inside dsl.If would reference parameters its sub-DAG never receives.
    task.register_pipeline_channels(
        [
            value
            for value in (cluster.gpu_type, cluster.gpu_count)
            if isinstance(value, PipelineChannel)
        ]
    )
    kubernetes.add_node_selector_json(task, cluster.gpu_node_selector)
    kubernetes.add_toleration_json(task, dict(GPU_TOLERATION))
    kubernetes.add_toleration_json(task, cluster.gpu_tolerations)
    kubernetes.empty_dir_mount(task, SHM_VOLUME, SHM_PATH, medium="Memory", size_limit=SHM_SIZE)
    kubernetes.add_pod_label(task, *GPU_TASK_LABEL)
    return task


def place_on_cpu(task: PipelineTask, cluster: Cluster) -> PipelineTask:
    """No accelerator and no toleration (GPU nodes' taint keeps the pod off them)."""
    kubernetes.add_node_selector_json(task, cluster.cpu_node_selector)
    return task


def use_teacher(task: PipelineTask) -> PipelineTask:
    """Teacher API keys (optional Secret) and the persistent teacher response cache."""
    kubernetes.use_secret_as_env(
        task, TEACHER_SECRET, {key: key for key in TEACHER_SECRET_KEYS}, optional=True
    )
    kubernetes.mount_pvc(task, TEACHER_CACHE_PVC, TEACHER_CACHE_MOUNT)
    return task


def use_hf_cache(task: PipelineTask) -> PipelineTask:
    """Hugging Face token (optional Secret: public models need none) and the persistent hub
    cache, HF_HOME on a PVC: a retried or later prepare resumes / reuses the download."""
    keys = {key: key for key in HF_SECRET_KEYS}
    kubernetes.use_secret_as_env(task, HF_SECRET, keys, optional=True)
    kubernetes.mount_pvc(task, HF_CACHE_PVC, HF_CACHE_MOUNT)
    if not _LOCAL_RUN.get():  # KFP's local runner applies container env: keep the user's HF_HOME
        task.set_env_variable("HF_HOME", HF_CACHE_MOUNT)
    return task
