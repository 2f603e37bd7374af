"""Names of the cluster resources this project's code refers to, defined once.

The manifests under ``manifests/base`` create these objects; the compiled pipelines
(``pipelines/kubernetes.py``), the multi-node launcher (``vlaa.launch``), ``vlaa submit`` and the
data engine refer to them by these names. Only names live here, never values.
"""

from __future__ import annotations

# ConfigMap of runtime settings; each key is exposed to pods under its own name
# (manifests/base/runtime-env.yaml).
RUNTIME_CONFIG_MAP = "vlaa-runtime-env"
RUNTIME_ENV_KEYS = (
    "VLAA_S3_ENDPOINT",
    "AWS_REGION",
    "VLAA_PUSHGATEWAY_URL",
    "VLAA_METRICS_PORT",
    "VLAA_PIPELINE_BUCKET",
    "VLAA_MODELS_BUCKET",
    "VLAA_PRIORITY_CLASS",
    "VLAA_TEACHER_CACHE_DIR",
    "VLAA_CHECKPOINT_ROOT",
)
# The keys a TrainJob / PyTorchJob worker pod needs (S3 staging and metrics export).
TRAINING_ENV_KEYS = ("VLAA_S3_ENDPOINT", "AWS_REGION", "VLAA_PUSHGATEWAY_URL", "VLAA_METRICS_PORT")

# Secrets, read by name as env (vlaa.storage's S3 store reads the AWS_* variables).
S3_SECRET = "vlaa-s3-credentials"
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")  # read by vlaa/storage/s3.py
TEACHER_SECRET = "vlaa-teacher-api-keys"
# Optional: a run with the offline teacher (the default) needs neither key nor the Secret.
TEACHER_SECRET_KEYS = ("OPENAI_API_KEY", "DEEPSEEK_API_KEY")

# The LLM teacher's response cache: a PVC mounted in build_dataset's pod (manifests/base/teacher).
TEACHER_CACHE_PVC = "vlaa-teacher-cache"
TEACHER_CACHE_MOUNT = "/var/cache/vlaa"  # VLAA_TEACHER_CACHE_DIR is a folder below it
TEACHER_CACHE_ENV = "VLAA_TEACHER_CACHE_DIR"

# hf:// base models: the Hugging Face cache, a PVC mounted in prepare's pod with HF_HOME at its
# root (manifests/base/models), so each revision is downloaded once; the token from an optional
# Secret (huggingface_hub reads HF_TOKEN).
HF_CACHE_PVC = "vlaa-hf-cache"
HF_CACHE_MOUNT = "/var/cache/huggingface"  # HF_HOME; the hub cache is HF_HOME/hub
HF_SECRET = "vlaa-hf-token"
HF_SECRET_KEYS = ("HF_TOKEN",)
# Training checkpoints: a PVC mounted in the sft/grpo pods (manifests/base/checkpoints), so a
# retried or evicted step resumes from its last checkpoint; each step trains in its own folder
# below VLAA_CHECKPOINT_ROOT (components/training.py).
CHECKPOINT_PVC = "vlaa-checkpoints"
CHECKPOINT_MOUNT = "/var/lib/vlaa/checkpoints"
CHECKPOINT_ENV = "VLAA_CHECKPOINT_ROOT"

# Pod labels: the PodMonitor scrapes pods with the metrics label; GPU task pods carry the
# gpu-task label for an admission policy (kfp-kubernetes 2.17 cannot set priorityClassName).
METRICS_LABEL = ("vlaa.io/metrics", "true")
GPU_TASK_LABEL = ("vlaa.io/gpu-task", "true")
# The /metrics port of training pods (VLAA_METRICS_PORT); job pods declare it by this name.
METRICS_PORT = 9400
METRICS_PORT_NAME = "metrics"

GPU_RESOURCE = "nvidia.com/gpu"  # the resource name the NVIDIA device plugin advertises
DEFAULT_PRIORITY_CLASS = "vlaa-gpu-training"  # manifests/base/scheduling
PRIORITY_CLASS_ENV = "VLAA_PRIORITY_CLASS"  # set per overlay in the runtime ConfigMap

PIPELINE_SERVICE_ACCOUNT = "vlaa-pipeline-runner"  # manifests/base/rbac

# --- least privilege (docs/cluster.md) ----------------------------------------------------------
# Per-purpose MinIO users (manifests/base/minio/policies): the pipeline's tasks use S3_SECRET,
# the publish step the registry publisher's keys, model servers the read-only keys. MinIO's root
# keys live only in MINIO_ROOT_SECRET, read by MinIO and its setup Job, never by a task.
S3_PUBLISHER_SECRET = "vlaa-s3-publisher"
S3_SERVING_SECRET = "vlaa-s3-serving"
MINIO_ROOT_SECRET = "vlaa-minio-root"
MINIO_ROOT_KEYS = ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")

# KFP 2.17 runs every task of a run under the run's one service account (kfp-kubernetes'
# KubernetesExecutorConfig has no service-account field). Creating TrainJobs / PyTorchJobs is
# therefore granted to a separate account whose token Secret only the sft/grpo tasks mount;
# vlaa.launch.trainjob uses that token when it is there.
TRAINING_LAUNCHER_SERVICE_ACCOUNT = "vlaa-training-launcher"
TRAINING_LAUNCHER_TOKEN_SECRET = "vlaa-training-launcher-token"
TRAINING_LAUNCHER_TOKEN_DIR = "/var/run/secrets/vlaa.io/training-launcher"
# The pods of a TrainJob / PyTorchJob: an account with no permissions and no token mounted.
TRAINING_WORKER_SERVICE_ACCOUNT = "vlaa-training-worker"
