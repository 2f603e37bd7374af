"""Multi-node training: TrainJob / PyTorchJob specs, submission against a recorded Kubernetes
API (``tests/doubles/kubernetes_api.py``), the worker's staging through S3 (moto on loopback,
``tests/doubles/s3_api.py``), and the SFT / GRPO steps' hook that submits a job and brings its
model back as a normal KFP artifact.

The job's pods cannot run here; where a test needs them, a thread plays the pods: it reads the
submitted spec's worker arguments and runs the worker's own fetch / upload code (or, in the
slow test, the whole worker with the tiny model).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from doubles.kubernetes_api import JobScript, KubernetesApiDouble
from doubles.s3_api import SECRET, MotoS3
from kubernetes import client as k8s
from PIL import Image
from pydantic import ValidationError
from support.manifest_tools import scan_text

from vlaa.cluster import DEFAULT_PRIORITY_CLASS
from vlaa.errors import ConfigError
from vlaa.launch import config as launch_config
from vlaa.launch import trainjob, worker
from vlaa.launch.config import WORKER_MODULE, DistributedConfig
from vlaa.launch.distributed import (
    check_batch_split,
    job_name,
    label_value,
    staging_root,
)
from vlaa.launch.job_specs import build_pytorchjob_spec, build_spec, build_trainjob_spec
from vlaa.launch.trainjob import JobFailedError, JobSubmitError, JobTimeoutError, submit_and_wait
from vlaa.storage import object_store_uri, open_store
from vlaa.training.config import GRPOStepConfig, SFTStepConfig

NAMESPACE = "vlaa-test"
IMAGE = "registry.example/vlaa-trainer:1.2.3"
ARGS = ["--stage", "sft", "--config", "s3://b/p/config.json"]
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def spot_toleration() -> dict[str, Any]:
    return {"key": "spot", "operator": "Equal", "value": "yes", "effect": "NoExecute"}


def big_config(**overrides: Any) -> DistributedConfig:
    values: dict[str, Any] = {
        "nodes": 4,
        "gpus_per_node": 8,
        "node_selector": {"cloud.example/gpu": "h100"},
        "tolerations": [GPU_TOLERATION, spot_toleration()],
        "cpu_per_node": "64",
        "memory_per_node": "512Gi",
        "shm_size": "64Gi",
        **overrides,
    }
    return DistributedConfig.model_validate(values)


def env_by_name(env: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in env}


def worker_args_of(spec: dict[str, Any]) -> list[str]:
    """The worker's own arguments in a submitted spec (after ``-m vlaa.launch.worker``)."""
    if spec["kind"] == "TrainJob":
        args = spec["spec"]["trainer"]["args"]
    else:
        args = spec["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][
            "args"
        ]
    return args[args.index(WORKER_MODULE) + 1 :]


# ----------------------------------------------------------------------------- config


def test_the_default_stays_one_process_in_the_pod() -> None:
    config = SFTStepConfig().distributed
    assert (config.nodes, config.gpus_per_node, config.backend) == (1, 1, "trainjob")
    assert not config.needs_job() and config.is_single_process()
    assert not config.runs_torchrun_in_pod()
    assert GRPOStepConfig().distributed == config


def test_gpus_on_one_node_run_torchrun_in_the_pod_and_nodes_submit_a_job() -> None:
    in_pod = DistributedConfig(gpus_per_node=4)
    assert in_pod.runs_torchrun_in_pod() and not in_pod.needs_job()
    assert in_pod.world_size() == 4
    job = DistributedConfig(nodes=2, gpus_per_node=8)
    assert job.needs_job() and not job.runs_torchrun_in_pod() and job.world_size() == 16
    cpu = DistributedConfig(nodes=3, gpus_per_node=0)
    assert cpu.processes_per_node() == 1 and cpu.world_size() == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"nodes": 0}, "greater than or equal to 1"),
        ({"gpus_per_node": -1}, "greater than or equal to 0"),
        ({"backend": "mpijob"}, "'trainjob' or 'pytorchjob'"),
        ({"shm_size": "lots"}, "not a Kubernetes quantity"),
        ({"memory_per_node": "12 GB"}, "not a Kubernetes quantity"),
        ({"labels": {"bad label": "x"}}, "not a valid Kubernetes label name"),
        ({"node_selector": {"pool": "a b"}}, "not a valid Kubernetes label value"),
        ({"staging_uri": "gs://bucket/x"}, "use s3://bucket/prefix"),
        ({"s3_secret_keys": ["AWS-KEY"]}, "not an environment variable name"),
        ({"tolerations": [{"key": "x", "operator": "Sometimes"}]}, "'Exists' or 'Equal'"),
        ({"nodes": 2, "gpus_per_node": 0, "backend": "pytorchjob"}, "gpus_per_node >= 1"),
        ({"gpus": 8}, "Extra inputs are not permitted"),
        ({"poll_interval_seconds": 0}, "greater than 0"),
    ],
)
def test_bad_distributed_settings_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SFTStepConfig.model_validate({"distributed": values})


def test_namespace_and_priority_class_are_resolved_in_the_pod(tmp_path: Path) -> None:
    config = DistributedConfig(nodes=2)
    namespace_file = tmp_path / "namespace"
    assert config.resolved_namespace(namespace_file) == "default"
    namespace_file.write_text("vlaa-dev\n")
    assert config.resolved_namespace(namespace_file) == "vlaa-dev"
    assert DistributedConfig(namespace="other").resolved_namespace(namespace_file) == "other"

    assert config.resolved_priority_class({}) == DEFAULT_PRIORITY_CLASS == "vlaa-gpu-training"
    env = {"VLAA_PRIORITY_CLASS": "vlaa-gpu-training-dev"}
    assert config.resolved_priority_class(env) == "vlaa-gpu-training-dev"
    assert DistributedConfig(priority_class="urgent").resolved_priority_class(env) == "urgent"


def test_object_store_uris_and_staging_root() -> None:
    assert object_store_uri("minio://pipelines/root/run/model") == "s3://pipelines/root/run/model"
    assert object_store_uri("s3://pipelines/root/model/") == "s3://pipelines/root/model"
    assert object_store_uri("/tmp/local/model") is None
    assert object_store_uri(None) is None

    staged = DistributedConfig(nodes=2, staging_uri="minio://stage/jobs")
    assert staging_root(staged, "/local/out") == "s3://stage/jobs"
    beside = DistributedConfig(nodes=2)
    assert staging_root(beside, "minio://p/root/sft/model") == "s3://p/root/sft/model-staging"
    with pytest.raises(ConfigError, match=r"needs distributed\.staging_uri"):
        staging_root(beside, "/local/out/model")


def test_job_names_are_short_fresh_dns_labels() -> None:
    first = job_name("sft", "VLAA Thinker run 2025/06/01 12:00 (retry)")
    second = job_name("sft", "VLAA Thinker run 2025/06/01 12:00 (retry)")
    assert first != second
    for name in (first, job_name("grpo", ""), job_name("grpo", "---")):
        assert len(name) <= 40
        assert name.startswith("vlaa-")
        assert all(c.islower() or c.isdigit() or c == "-" for c in name)
        assert name[-1].isalnum()
    assert label_value("--run/with spaces & a very long tail " + "x" * 80) == (
        "run-with-spaces-a-very-long-tail-" + "x" * 30
    )


def test_batch_must_split_over_every_process() -> None:
    check_batch_split("sft", 128, 4, DistributedConfig(nodes=2, gpus_per_node=8))
    with pytest.raises(ConfigError, match=r"batch 96 .* per-device batch 4 x 32 processes"):
        check_batch_split("sft", 96, 4, DistributedConfig(nodes=4, gpus_per_node=8))


# ----------------------------------------------------------------------------- specs


def test_trainjob_spec_carries_nodes_gpus_placement_image_and_env() -> None:
    spec = build_trainjob_spec(
        big_config(),
        name="vlaa-sft-abc",
        namespace=NAMESPACE,
        image=IMAGE,
        worker_args=ARGS,
        extra_labels={"vlaa.io/stage": "sft"},
    )
    assert spec["apiVersion"] == "trainer.kubeflow.org/v1alpha1"
    assert spec["kind"] == "TrainJob"
    assert spec["metadata"] == {
        "name": "vlaa-sft-abc",
        "namespace": NAMESPACE,
        "labels": {"vlaa.io/metrics": "true", "vlaa.io/stage": "sft"},
    }
    body = spec["spec"]
    assert body["runtimeRef"] == {
        "name": "torch-distributed",
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
    }
    trainer = body["trainer"]
    assert trainer["image"] == IMAGE
    assert trainer["command"] == ["torchrun"]
    assert trainer["args"] == ["-m", "vlaa.launch.worker", *ARGS]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (4, 8)
    assert trainer["resourcesPerNode"] == {
        "limits": {"nvidia.com/gpu": "8"},
        "requests": {"cpu": "64", "memory": "512Gi"},
    }
    (patch,) = body["runtimePatches"]
    assert patch["manager"] == "vlaa.io/pipeline"
    (replicated,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert replicated["name"] == "node"
    pod = replicated["template"]["spec"]["template"]
    assert pod["metadata"]["labels"]["vlaa.io/metrics"] == "true"  # the PodMonitor scrapes it
    assert pod["spec"]["nodeSelector"] == {"cloud.example/gpu": "h100"}
    assert pod["spec"]["tolerations"] == [GPU_TOLERATION, spot_toleration()]
    assert pod["spec"]["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}
    ]
    assert pod["spec"]["containers"] == [
        {"name": "node", "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}
    ]
    # The TrainJob API has no per-job priority class: the training runtime sets it.
    assert "priorityClassName" not in json.dumps(spec)
    assert "podTemplateOverrides" not in body


def test_trainjob_env_references_the_config_map_and_secret_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # the step's own env must not leak
    spec = build_trainjob_spec(
        big_config(), name="j", namespace=NAMESPACE, image=IMAGE, worker_args=ARGS
    )
    env = env_by_name(spec["spec"]["trainer"]["env"])
    assert env["PYTHONUNBUFFERED"] == {"name": "PYTHONUNBUFFERED", "value": "1"}
    for key in ("VLAA_S3_ENDPOINT", "AWS_REGION", "VLAA_PUSHGATEWAY_URL", "VLAA_METRICS_PORT"):
        assert env[key] == {
            "name": key,
            "valueFrom": {
                "configMapKeyRef": {"name": "vlaa-runtime-env", "key": key, "optional": True}
            },
        }
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key] == {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": "vlaa-s3-credentials", "key": key}},
        }
    text = yaml.safe_dump(spec)
    assert SECRET not in text
    assert scan_text(text, "trainjob") == []


def test_trainjob_for_trainer_2_1_uses_pod_template_overrides() -> None:
    spec = build_trainjob_spec(
        big_config(trainer_api="pod-template-overrides", runtime="vlaa-torch"),
        name="j",
        namespace=NAMESPACE,
        image=IMAGE,
        worker_args=ARGS,
    )
    assert "runtimePatches" not in spec["spec"]
    assert spec["spec"]["runtimeRef"]["name"] == "vlaa-torch"
    (override,) = spec["spec"]["podTemplateOverrides"]
    assert override["targetJobs"] == [{"name": "node"}]
    assert override["metadata"]["labels"] == {"vlaa.io/metrics": "true"}
    assert override["spec"]["tolerations"] == [GPU_TOLERATION, spot_toleration()]
    assert override["spec"]["nodeSelector"] == {"cloud.example/gpu": "h100"}
    assert override["spec"]["containers"][0]["name"] == "node"


def test_cpu_trainjob_requests_no_gpu() -> None:
    config = DistributedConfig(nodes=2, gpus_per_node=0, tolerations=[], labels={})
    spec = build_trainjob_spec(config, name="j", namespace="n", image=IMAGE, worker_args=ARGS)
    trainer = spec["spec"]["trainer"]
    assert "resourcesPerNode" not in trainer
    assert trainer["numProcPerNode"] == 1
    pod = spec["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
    pod_spec = pod["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert "tolerations" not in pod_spec and "nodeSelector" not in pod_spec


def test_pytorchjob_spec_has_a_master_and_workers_with_gpus_and_priority() -> None:
    config = big_config(backend="pytorchjob", timeout_seconds=3600.5)
    spec = build_pytorchjob_spec(
        config,
        name="vlaa-grpo-abc",
        namespace=NAMESPACE,
        image=IMAGE,
        worker_args=ARGS,
        priority_class="vlaa-gpu-training",
    )
    assert (spec["apiVersion"], spec["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    body = spec["spec"]
    assert body["nprocPerNode"] == "8"
    assert body["runPolicy"] == {
        "cleanPodPolicy": "None",
        "backoffLimit": 0,
        "activeDeadlineSeconds": 3601,
    }
    replicas = body["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 3)
    for replica in replicas.values():
        assert replica["restartPolicy"] == "Never"
        pod = replica["template"]
        assert pod["metadata"]["labels"] == {"vlaa.io/metrics": "true"}
        assert pod["spec"]["priorityClassName"] == "vlaa-gpu-training"
        assert pod["spec"]["tolerations"] == [GPU_TOLERATION, spot_toleration()]
        assert pod["spec"]["nodeSelector"] == {"cloud.example/gpu": "h100"}
        (container,) = pod["spec"]["containers"]
        assert container["name"] == "pytorch"  # the operator only wires this container
        assert container["image"] == IMAGE
        assert container["command"] == ["torchrun"]
        assert container["args"][:5] == [
            "--nnodes=4",
            "--nproc-per-node=8",
            "--node-rank=$(RANK)",
            "--master-addr=$(MASTER_ADDR)",
            "--master-port=$(MASTER_PORT)",
        ]
        assert container["args"][5:] == ["-m", "vlaa.launch.worker", *ARGS]
        assert container["resources"]["limits"] == {"nvidia.com/gpu": "8"}
        assert container["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]
        assert env_by_name(container["env"])["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {
            "secretKeyRef": {"name": "vlaa-s3-credentials", "key": "AWS_SECRET_ACCESS_KEY"}
        }
    assert scan_text(yaml.safe_dump(spec), "pytorchjob") == []


def test_build_spec_follows_the_backend() -> None:
    common = {"name": "j", "namespace": "n", "image": IMAGE, "worker_args": ARGS}
    trainjob_spec = build_spec(big_config(), priority_class="p", **common)
    assert trainjob_spec["kind"] == "TrainJob"
    pytorch_spec = build_spec(big_config(backend="pytorchjob"), priority_class="p", **common)
    assert pytorch_spec["kind"] == "PyTorchJob"


# ----------------------------------------------------------------------------- submit_and_wait


@pytest.fixture
def api() -> Iterator[KubernetesApiDouble]:
    with KubernetesApiDouble() as double:
        yield double


def small_spec(backend: str = "trainjob", nodes: int = 2) -> dict[str, Any]:
    return build_spec(
        DistributedConfig(nodes=nodes, gpus_per_node=2, backend=backend),  # type: ignore[arg-type]
        name="vlaa-sft-run-abc123",
        namespace=NAMESPACE,
        image=IMAGE,
        worker_args=ARGS,
        priority_class="vlaa-gpu-training",
    )


LOGS = {0: ["loading model", "step 1 loss 2.0", "step 2 loss 1.5", "saved"], 1: ["hello", "bye"]}


def test_submit_and_wait_creates_the_job_streams_logs_and_deletes_it(
    api: KubernetesApiDouble,
) -> None:
    api.next_script = JobScript(log_lines=LOGS, running_polls=3)
    lines: list[str] = []
    spec = small_spec()
    outcome = submit_and_wait(spec, api.client(), lines.append, 60, poll_interval=0.01)

    assert outcome.succeeded and outcome.kind == "TrainJob"
    assert (outcome.reason, outcome.message) == (
        "AllJobsCompleted",
        "jobset completed successfully",
    )
    assert outcome.pods == [
        "vlaa-sft-run-abc123-node-0-0-abcde",
        "vlaa-sft-run-abc123-node-0-1-abcde",
    ]
    (create,) = api.calls("POST")
    assert create.path == f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{NAMESPACE}/trainjobs"
    assert create.body == spec
    listing = api.calls("GET", "/pods")[0]
    assert listing.query["labelSelector"] == ["jobset.sigs.k8s.io/jobset-name=vlaa-sft-run-abc123"]
    # Every line once, in order per node, though the double repeats earlier lines on each read.
    for node, expected in LOGS.items():
        assert [line for line in lines if line.startswith(f"[node {node}] ")] == [
            f"[node {node}] {line}" for line in expected
        ]
    log_reads = api.calls("GET", "/log")
    assert all(read.query["container"] == ["node"] for read in log_reads)
    assert any("sinceSeconds" in read.query for read in log_reads)  # later reads are bounded
    (delete,) = api.calls("DELETE")
    assert delete.path.endswith("/trainjobs/vlaa-sft-run-abc123")
    assert delete.query["propagationPolicy"] == ["Background"]


def test_submit_and_wait_follows_a_pytorchjob(api: KubernetesApiDouble) -> None:
    api.next_script = JobScript(log_lines=LOGS)
    lines: list[str] = []
    outcome = submit_and_wait(
        small_spec("pytorchjob"),
        api.client(),
        lines.append,
        60,
        poll_interval=0.01,
        delete_on_success=False,
    )
    assert outcome.succeeded and outcome.reason == "PyTorchJobSucceeded"
    assert [c["type"] for c in outcome.conditions] == ["Created", "Running", "Succeeded"]
    assert outcome.pods == ["vlaa-sft-run-abc123-master-0", "vlaa-sft-run-abc123-worker-0"]
    assert api.calls("POST")[0].path.endswith(
        f"/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs"
    )
    selector = api.calls("GET", "/pods")[0].query["labelSelector"]
    assert selector == ["training.kubeflow.org/job-name=vlaa-sft-run-abc123"]
    assert "[node 1] bye" in lines and "[node 0] saved" in lines
    assert not api.calls("DELETE")


def test_a_failed_job_raises_with_its_message_and_is_kept(api: KubernetesApiDouble) -> None:
    api.next_script = JobScript(outcome="failed", exit_code=137, log_lines=LOGS)
    lines: list[str] = []
    with pytest.raises(JobFailedError) as caught:
        submit_and_wait(small_spec(), api.client(), lines.append, 60, poll_interval=0.01)
    message = str(caught.value)
    assert "TrainJob vlaa-test/vlaa-sft-run-abc123 failed" in message
    assert "FailedJobs: jobset failed due to one or more job failures" in message
    assert "node 1 (vlaa-sft-run-abc123-node-0-1-abcde): exit code 137 (Error)" in message
    assert "kubectl -n vlaa-test describe trainjobs vlaa-sft-run-abc123" in message
    assert caught.value.outcome.succeeded is False
    assert "[node 1] bye" in lines  # the failing node's last words reach the step's log
    assert not api.calls("DELETE")


def test_a_failed_pytorchjob_names_the_operator_message(api: KubernetesApiDouble) -> None:
    api.next_script = JobScript(outcome="failed")
    with pytest.raises(JobFailedError, match=r"is failed because 1 Worker replica\(s\) failed"):
        submit_and_wait(small_spec("pytorchjob"), api.client(), print, 60, poll_interval=0.01)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_timeout_deletes_the_job(api: KubernetesApiDouble) -> None:
    api.next_script = JobScript(outcome="never")
    clock = FakeClock()
    with pytest.raises(JobTimeoutError, match=r"did not finish within 60 s; it was deleted"):
        submit_and_wait(
            small_spec(), api.client(), print, 60, poll_interval=15, clock=clock, sleep=clock.sleep
        )
    (delete,) = api.calls("DELETE")
    assert delete.path.endswith("/trainjobs/vlaa-sft-run-abc123")
    assert len(api.calls("GET", "/trainjobs/")) == 6  # at 0, 15, 30, 45, 60 and 75 s


def test_an_interrupt_deletes_the_job_and_propagates(api: KubernetesApiDouble) -> None:
    api.next_script = JobScript(outcome="never")

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        submit_and_wait(small_spec(), api.client(), lines.append, 60, sleep=interrupted)
    assert len(api.calls("DELETE", "/trainjobs/vlaa-sft-run-abc123")) == 1
    assert lines[-1] == "[vlaa] interrupted: deleting TrainJob vlaa-test/vlaa-sft-run-abc123"


def test_sigterm_of_a_cancelled_run_deletes_the_job(api: KubernetesApiDouble) -> None:
    api.next_script = JobScript(outcome="never")
    before = signal.getsignal(signal.SIGTERM)

    def terminated(seconds: float) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # what Kubernetes sends the step's container
        time.sleep(1)  # the handler interrupts this

    with pytest.raises(KeyboardInterrupt):
        submit_and_wait(small_spec(), api.client(), print, 60, sleep=terminated)
    assert len(api.calls("DELETE", "/trainjobs/vlaa-sft-run-abc123")) == 1
    assert signal.getsignal(signal.SIGTERM) == before  # the step's own handler is back


def test_without_a_cluster_the_error_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    with pytest.raises(JobSubmitError, match="no Kubernetes API to submit the training job to"):
        trainjob.kubernetes_client()


def test_api_hiccups_are_waited_out_but_a_lost_api_deletes_the_job(
    api: KubernetesApiDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.next_script = JobScript(unavailable_gets=3)
    assert submit_and_wait(small_spec(), api.client(), print, 60, poll_interval=0.01).succeeded

    monkeypatch.setattr(trainjob, "MAX_UNANSWERED_POLLS", 4)
    api.next_script = JobScript(unavailable_gets=100)
    spec = small_spec()
    spec["metadata"]["name"] = "vlaa-sft-lost"
    lines: list[str] = []
    with pytest.raises(trainjob.JobError, match="did not answer 5 polls"):
        submit_and_wait(spec, api.client(), lines.append, 60, poll_interval=0.01)
    assert len(api.calls("DELETE", "/trainjobs/vlaa-sft-lost")) == 1
    assert lines[-1] == "[vlaa] JobError: deleting TrainJob vlaa-test/vlaa-sft-lost"


def test_a_missing_operator_is_a_clear_submit_error() -> None:
    with KubernetesApiDouble(installed=("pytorchjobs",)) as api:
        with pytest.raises(
            JobSubmitError, match=r"HTTP 404 .* is trainer\.kubeflow\.org installed"
        ):
            submit_and_wait(small_spec(), api.client(), print, 60)
        assert not api.calls("GET")


def test_a_name_clash_is_a_clear_submit_error(api: KubernetesApiDouble) -> None:
    spec = small_spec()
    k8s.CustomObjectsApi(api.client()).create_namespaced_custom_object(
        "trainer.kubeflow.org", "v1alpha1", NAMESPACE, "trainjobs", spec
    )
    with pytest.raises(JobSubmitError, match=r"HTTP 409 .* a job of that name exists already"):
        submit_and_wait(spec, api.client(), print, 60)


def test_the_workers_run_the_step_pods_own_image(
    api: KubernetesApiDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.pod_images["vlaa-thinker-abc-sft-123"] = "registry.example/vlaa-trainer@sha256:" + "a" * 64
    monkeypatch.setenv("HOSTNAME", "vlaa-thinker-abc-sft-123")
    assert trainjob.own_image(api.client(), NAMESPACE) == api.pod_images["vlaa-thinker-abc-sft-123"]
    monkeypatch.setenv("HOSTNAME", "somewhere-else")
    assert trainjob.own_image(api.client(), NAMESPACE) == trainjob.TRAINER_IMAGE


# ----------------------------------------------------------------------------- worker staging


def a_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


FILES = {"config.json": b'{"a": 1}', "weights/model.safetensors": b"\x00\x01" * 5000}


def test_upload_and_download_a_folder_through_s3_with_the_marker_last(
    bucket: str, moto_s3: MotoS3, tmp_path: Path
) -> None:
    source = a_folder(tmp_path / "src", FILES)
    uri = f"minio://{bucket}/jobs/x/output"
    manifest = worker.upload_folder(source, uri)
    assert sorted(manifest["files"]) == sorted(FILES)
    keys = [item["Key"] for item in moto_s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == sorted(f"jobs/x/output/{k}" for k in [*FILES, worker.MARKER])

    copy = worker.download_folder(uri, tmp_path / "copy", require_marker=True)
    for name, data in FILES.items():
        assert (copy / name).read_bytes() == data

    # A file changed after the marker was written is caught.
    open_store(f"s3://{bucket}/jobs/x/output").put_bytes("config.json", b"tampered")
    with pytest.raises(worker.IncompleteResultError, match=r"config\.json does not match"):
        worker.download_folder(uri, tmp_path / "again", require_marker=True)


def test_a_result_without_marker_is_refused_but_a_kfp_artifact_is_fetched_whole(
    bucket: str, tmp_path: Path
) -> None:
    store = open_store(f"s3://{bucket}/pipeline-root/run/prepare/base_model")
    for name, data in FILES.items():
        store.put_bytes(name, data)  # as the KFP launcher uploads an artifact: no marker
    uri = f"minio://{bucket}/pipeline-root/run/prepare/base_model"
    with pytest.raises(worker.IncompleteResultError, match="did not finish writing"):
        worker.download_folder(uri, tmp_path / "result", require_marker=True)
    fetched = worker.download_folder(uri, tmp_path / "inputs" / "base_model")
    assert {p.relative_to(fetched).as_posix() for p in fetched.rglob("*") if p.is_file()} == set(
        FILES
    )
    with pytest.raises(FileNotFoundError, match="nothing stored under"):
        worker.download_folder(f"s3://{bucket}/nothing/here", tmp_path / "empty")
    assert (
        worker.read_bytes(f"s3://{bucket}/pipeline-root/run/prepare/base_model/config.json")
        == (FILES["config.json"])
    )


def test_inputs_are_fetched_once_per_node_and_the_other_ranks_wait(
    bucket: str, tmp_path: Path
) -> None:
    source = f"s3://{bucket}/job/inputs/base_model"
    worker.upload_folder(a_folder(tmp_path / "model", FILES), source)
    local_split = a_folder(tmp_path / "split", {"records.jsonl": b"{}\n"})
    sources = {"base_model": source, "train_split": str(local_split)}
    node = tmp_path / "node"
    waited: dict[str, Any] = {}

    def local_rank_1() -> None:
        waited["paths"] = worker.fetch_inputs_once_per_node(
            sources, node, worker.Ranks(rank=1, local_rank=1, world_size=2), 30, poll=0.01
        )

    follower = threading.Thread(target=local_rank_1)
    follower.start()
    paths = worker.fetch_inputs_once_per_node(sources, node, worker.Ranks(world_size=2))
    follower.join(10)
    # Object-store inputs land in the node's folder; local folders are used where they are.
    assert waited["paths"] == paths
    assert paths == {"base_model": node / "inputs" / "base_model", "train_split": local_split}
    assert (paths["base_model"] / "weights" / "model.safetensors").read_bytes() == (
        FILES["weights/model.safetensors"]
    )
    # A restarted attempt finds the marker and does not fetch again.
    open_store(source).put_bytes("config.json", b"changed")
    worker.fetch_inputs_once_per_node(sources, node, worker.Ranks())
    assert (paths["base_model"] / "config.json").read_bytes() == FILES["config.json"]


def test_the_waiting_ranks_stop_when_local_rank_0_fails(bucket: str, tmp_path: Path) -> None:
    node = tmp_path / "node"
    sources = {"base_model": f"s3://{bucket}/nothing/here"}
    with pytest.raises(FileNotFoundError, match="nothing stored under"):
        worker.fetch_inputs_once_per_node(sources, node, worker.Ranks(attempt="run:0"))
    same_attempt = worker.Ranks(rank=1, local_rank=1, world_size=2, attempt="run:0")
    with pytest.raises(RuntimeError, match="local rank 0 could not fetch the inputs"):
        worker.fetch_inputs_once_per_node(sources, node, same_attempt, timeout=5, poll=0.01)
    # A failure left by an earlier attempt is not this attempt's: wait (here: time out).
    next_attempt = worker.Ranks(rank=1, local_rank=1, world_size=2, attempt="run:1")
    with pytest.raises(TimeoutError):
        worker.fetch_inputs_once_per_node(sources, node, next_attempt, timeout=0.05, poll=0.01)
    with pytest.raises(FileNotFoundError, match=r"input folder .* \(train_split\) does not exist"):
        worker.fetch_inputs_once_per_node(
            {"train_split": str(tmp_path / "missing")}, node, worker.Ranks()
        )


def test_result_round_trip(tmp_path: Path) -> None:
    result = tmp_path / "result"
    a_folder(result / "model", FILES)
    work = a_folder(tmp_path / "work", {"train_log.jsonl": b'{"step": 1, "loss": 2.0}\n'})
    worker.write_result(result, {"steps": 1, "log": str(work / "train_log.jsonl"), "curves": None})
    with pytest.raises(worker.IncompleteResultError, match=r"has no vlaa-complete\.json"):
        worker.read_result(result)
    worker.write_marker(result)
    summary = worker.read_result(result)
    assert summary["steps"] == 1 and summary["curves"] is None
    assert Path(summary["log"]).read_text() == '{"step": 1, "loss": 2.0}\n'
    worker.take_model(result, tmp_path / "out" / "model")
    assert (tmp_path / "out" / "model" / "config.json").read_bytes() == FILES["config.json"]


# ----------------------------------------------------------------------------- the steps' hook


def artifact(path: Path, uri: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(path=str(path), uri=uri or str(path), metadata={})


class FakeMetrics:
    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log_metric(self, key: str, value: float) -> None:
        self.logged[key] = value


def png(path: Path) -> Path:
    Image.new("RGB", (4, 4), "white").save(path)
    return path


def play_the_pods(
    pods: Callable[[dict[str, Any]], None], gate: threading.Event, errors: list[BaseException]
) -> Callable[[dict[str, Any]], None]:
    """An ``on_create`` hook: run ``pods(spec)`` in a thread; the job ends when it returns."""

    def start(spec: dict[str, Any]) -> None:
        def run() -> None:
            try:
                pods(spec)
            except BaseException as error:
                errors.append(error)
            finally:
                gate.set()

        threading.Thread(target=run, daemon=True).start()

    return start


@pytest.fixture
def cluster(
    api: KubernetesApiDouble, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[KubernetesApiDouble]:
    """The double as the step's Kubernetes API, as seen from the step's pod: its namespace,
    its image, its environment."""
    monkeypatch.setattr(trainjob, "kubernetes_client", api.client)
    namespace_file = tmp_path / "serviceaccount-namespace"
    namespace_file.write_text("vlaa-pod-ns")
    monkeypatch.setattr(launch_config, "NAMESPACE_FILE", namespace_file)
    monkeypatch.setenv("HOSTNAME", "vlaa-run-sft-pod")
    monkeypatch.setenv("VLAA_PRIORITY_CLASS", "vlaa-gpu-training-dev")
    api.pod_images["vlaa-run-sft-pod"] = IMAGE
    yield api


def sft_arguments(
    base_model: Any, train_split: Any, config: dict, run_id: str, model: Any, job_spec: Any
) -> dict[str, Any]:
    """What KFP passes the sft component, by name."""
    return {
        "base_model": base_model,
        "train_split": train_split,
        "config": config,
        "run_id": run_id,
        "model": model,
        "job_spec": job_spec,
    }


def kfp_base_model(bucket: str) -> SimpleNamespace:
    """An input artifact that already lives in MinIO, as KFP stores it (no marker)."""
    prefix = "pipeline-root/run-1/prepare/base_model"
    store = open_store(f"s3://{bucket}/{prefix}")
    for name, data in FILES.items():
        store.put_bytes(name, data)
    return artifact(Path("/minio") / bucket / prefix, f"minio://{bucket}/{prefix}")


def test_sft_on_two_nodes_submits_a_trainjob_and_returns_a_normal_model_artifact(
    cluster: KubernetesApiDouble, bucket: str, tmp_path: Path
) -> None:
    from vlaa.components.sft.runtime import run as run_sft_component

    gate, errors, seen = threading.Event(), [], {}

    def pods(spec: dict[str, Any]) -> None:
        args = worker.parse_args(worker_args_of(spec))
        seen["args"], seen["config"] = args, json.loads(worker.read_bytes(args.config))
        work = tmp_path / "pod"
        seen["inputs"] = worker.fetch_inputs_once_per_node(
            {"base_model": args.base_model, "train_split": args.train_split},
            work,
            worker.Ranks(world_size=4),
        )
        result = a_folder(work / "result" / "model", {"model.safetensors": b"trained"}).parent
        train_log = a_folder(work / "train", {"log.jsonl": b'{"step": 3}\n'}) / "log.jsonl"
        summary = {"steps": 3, "first_loss": 2.5, "last_loss": 1.0, "log": str(train_log)}
        worker.write_result(result, summary)
        worker.upload_folder(result, args.output)

    cluster.next_script = JobScript(
        gate=gate,
        on_create=play_the_pods(pods, gate, errors),
        log_lines={0: ["[rank 0/4] fetching base_model", "saved"], 1: ["[rank 2/4] ok"]},
    )
    base_model = kfp_base_model(bucket)
    train_split = artifact(a_folder(tmp_path / "sft_split", {"records.jsonl": b'{"id": "1"}\n'}))
    model = artifact(tmp_path / "out" / "model", f"minio://{bucket}/pipeline-root/run-1/sft/model")
    job_spec = artifact(tmp_path / "out" / "job_spec")
    spread = {"nodes": 2, "gpus_per_node": 2, "poll_interval_seconds": 0.02}
    config = {"global_batch_size": 8, "per_device_batch_size": 2, "distributed": spread}

    run_sft_component(sft_arguments(base_model, train_split, config, "run-1", model, job_spec))

    assert not errors, errors
    # The job: the spec written to the artifact is the one the API received.
    (create,) = cluster.calls("POST")
    assert create.path.endswith("/namespaces/vlaa-pod-ns/trainjobs")  # the step pod's namespace
    assert yaml.safe_load(Path(job_spec.path).read_text()) == create.body
    trainer = create.body["spec"]["trainer"]
    assert (trainer["image"], trainer["numNodes"], trainer["numProcPerNode"]) == (IMAGE, 2, 2)
    assert create.body["metadata"]["labels"]["vlaa.io/stage"] == "sft"
    assert create.body["metadata"]["labels"]["vlaa.io/run-id"] == "run-1"
    assert job_spec.metadata["mode"] == "TrainJob" and job_spec.metadata["succeeded"] is True
    # Inputs: the base model is read where KFP left it; the local split was staged (marker).
    args = seen["args"]
    assert args.base_model == f"s3://{bucket}/pipeline-root/run-1/prepare/base_model"
    staging = (
        f"s3://{bucket}/pipeline-root/run-1/sft/model-staging/{create.body['metadata']['name']}"
    )
    assert args.train_split == f"{staging}/inputs/train_split"
    assert args.output == f"{staging}/output"
    assert open_store(args.train_split).exists(worker.MARKER)
    assert seen["config"] == SFTStepConfig.model_validate(config).model_dump(mode="json")
    assert (seen["inputs"]["train_split"] / "records.jsonl").read_bytes() == b'{"id": "1"}\n'
    assert (seen["inputs"]["base_model"] / "config.json").read_bytes() == FILES["config.json"]
    # The result: the trained model is the step's output artifact, as if trained in the pod.
    assert sorted(p.name for p in Path(model.path).iterdir()) == ["model.safetensors"]
    assert (Path(model.path) / "model.safetensors").read_bytes() == b"trained"
    assert model.metadata == {"stage": "sft", "steps": 3}
    assert cluster.calls("DELETE", "/trainjobs/")  # finished jobs are cleaned up


def test_grpo_on_two_nodes_as_a_pytorchjob_logs_metrics_and_curves(
    cluster: KubernetesApiDouble, bucket: str, tmp_path: Path
) -> None:
    from vlaa.components.grpo.runtime import run as run_grpo_component

    gate, errors = threading.Event(), []
    rows = [{"step": 1, "reward": 0.25, "kl": 0.0}, {"step": 2, "reward": 0.5, "kl": 0.001}]

    def pods(spec: dict[str, Any]) -> None:
        args = worker.parse_args(worker_args_of(spec))
        assert (args.stage, args.arm, args.run_id) == ("grpo", "sft", "run-2")
        result = a_folder(tmp_path / "pod" / "result" / "model", {"weights": b"w"}).parent
        work = tmp_path / "pod" / "train"
        work.mkdir(parents=True)
        (work / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        summary = {
            "steps": 2,
            "reward_first": 0.25,
            "reward_last": 0.5,
            "final_beta": 0.001,
            "log": str(work / "log.jsonl"),
            "curves": str(png(work / "curves.png")),
        }
        worker.write_result(result, summary)
        worker.upload_folder(result, args.output)

    cluster.next_script = JobScript(gate=gate, on_create=play_the_pods(pods, gate, errors))
    staging = f"s3://{bucket}/staging"
    spread = {
        "nodes": 3,
        "gpus_per_node": 1,
        "backend": "pytorchjob",
        "staging_uri": staging,
        "namespace": NAMESPACE,
        "poll_interval_seconds": 0.02,
    }
    config = {
        "rollout_batch_prompts": 2,
        "train_batch_completions": 6,
        "per_device_batch_size": 2,
        "num_generations": 3,
        "distributed": spread,
    }
    init_model = artifact(a_folder(tmp_path / "init", {"config.json": b"{}"}))
    init_model.metadata["stage"] = "sft"
    split = artifact(a_folder(tmp_path / "rl", {"records.jsonl": b"{}\n"}))
    model, metrics = artifact(tmp_path / "out" / "model"), FakeMetrics()
    curves, job_spec = artifact(tmp_path / "out" / "curves.html"), artifact(tmp_path / "out" / "js")

    run_grpo_component(
        {
            "init_model": init_model,
            "train_split": split,
            "config": config,
            "run_id": "run-2",
            "arm": "sft",
            "model": model,
            "metrics": metrics,
            "curves": curves,
            "job_spec": job_spec,
        }
    )

    assert not errors, errors
    (create,) = cluster.calls("POST")
    assert create.path == f"/apis/kubeflow.org/v1/namespaces/{NAMESPACE}/pytorchjobs"
    pod = create.body["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert pod["replicas"] == 2
    assert pod["template"]["spec"]["priorityClassName"] == "vlaa-gpu-training-dev"
    assert yaml.safe_load(Path(job_spec.path).read_text()) == create.body
    assert job_spec.metadata["mode"] == "PyTorchJob"
    assert metrics.logged["steps"] == 2 and metrics.logged["reward_last"] == 0.5
    assert metrics.logged["final/reward"] == 0.5 and metrics.logged["final/kl"] == 0.001
    assert "data:image/png;base64," in Path(curves.path).read_text()
    assert (Path(model.path) / "weights").read_bytes() == b"w"
    assert model.metadata["init"] == "sft"


def test_a_batch_that_cannot_split_fails_before_anything_is_submitted(
    cluster: KubernetesApiDouble, tmp_path: Path
) -> None:
    from vlaa.components.sft.runtime import run as run_sft_component

    spread = {"nodes": 2, "gpus_per_node": 8, "staging_uri": str(tmp_path / "staging")}
    config = {"global_batch_size": 8, "per_device_batch_size": 4, "distributed": spread}
    job_spec = artifact(tmp_path / "job_spec")
    with pytest.raises(SystemExit):  # stage() reports the ConfigError in one line
        run_sft_component(
            sft_arguments(
                artifact(tmp_path / "base"),
                artifact(tmp_path / "split"),
                config,
                "r",
                artifact(tmp_path / "model"),
                job_spec,
            )
        )
    assert not cluster.requests and not Path(job_spec.path).exists()


def test_a_failed_job_fails_the_step_with_the_jobs_message(
    cluster: KubernetesApiDouble, tmp_path: Path
) -> None:
    from vlaa.components.sft.runtime import run as run_sft_component

    cluster.next_script = JobScript(outcome="failed", exit_code=1)
    spread = {
        "nodes": 2,
        "staging_uri": str(tmp_path / "staging"),
        "poll_interval_seconds": 0.01,
    }
    config = {"global_batch_size": 8, "per_device_batch_size": 4, "distributed": spread}
    base = artifact(a_folder(tmp_path / "base", {"config.json": b"{}"}))
    split = artifact(a_folder(tmp_path / "split", {"records.jsonl": b"{}\n"}))
    with pytest.raises(JobFailedError, match="exit code 1"):
        model, job = artifact(tmp_path / "m"), artifact(tmp_path / "j")
        run_sft_component(sft_arguments(base, split, config, "r", model, job))
    (staged,) = (tmp_path / "staging").iterdir()  # the local staging area holds the inputs
    assert (staged / "inputs" / "base_model" / worker.MARKER).is_file()
    assert not (staged / "output").exists()


def test_in_pod_runs_record_their_mode(tmp_path: Path) -> None:
    from vlaa.launch.distributed import in_pod_record, write_job_record

    path = tmp_path / "job_spec"
    write_job_record(path, in_pod_record(DistributedConfig()))
    record = yaml.safe_load(path.read_text())
    assert record["mode"] == "in-pod" and record["processes"] == 1
    assert record["distributed"]["nodes"] == 1


# ----------------------------------------------------------------------------- real training


@pytest.mark.slow
def test_the_worker_trains_the_tiny_model_from_s3_in_a_single_process(
    tiny_model_dir: Path,
    tiny_dataset: dict[str, Path],
    bucket: str,
    moto_s3: MotoS3,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``python -m vlaa.launch.worker`` (no torchrun): inputs from S3, result back to S3."""
    root = f"s3://{bucket}/job"
    worker.upload_folder(tiny_model_dir, f"{root}/inputs/base_model")
    worker.upload_folder(tiny_dataset["sft"], f"{root}/inputs/train_split")
    config = SFTStepConfig(
        global_batch_size=2, per_device_batch_size=2, max_steps=2, warmup_ratio=0.0, max_length=512
    )
    open_store(root).put_bytes("config.json", config.model_dump_json().encode())
    command = [
        sys.executable,
        "-m",
        WORKER_MODULE,
        *["--stage", "sft", "--config", f"{root}/config.json"],
        *[
            "--base-model",
            f"{root}/inputs/base_model",
            "--train-split",
            f"{root}/inputs/train_split",
        ],
        *["--output", f"{root}/output", "--run-id", "run-w", "--work-dir", str(tmp_path / "w")],
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "[rank 0/1] INFO vlaa.worker: uploading the result" in completed.stderr

    result = worker.download_folder(f"{root}/output", tmp_path / "result", require_marker=True)
    summary = worker.read_result(result)
    assert summary["steps"] == 2 and summary["last_loss"] is not None
    assert (result / "model" / "model.safetensors").is_file()
    assert (result / "model" / "vlaa_training.json").is_file()


@pytest.mark.slow
def test_two_gpus_on_one_node_run_torchrun_in_the_pod(
    tiny_model_dir: Path, tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    """gpus_per_node=2 on one node: torchrun in the step's pod, two processes training one
    model together (gloo on this CPU), the result moved into the model artifact."""
    from vlaa.components.sft.runtime import run as run_sft_component

    config = {
        "global_batch_size": 4,
        "per_device_batch_size": 2,
        "max_steps": 2,
        "warmup_ratio": 0.0,
        "max_length": 512,
        "distributed": {"gpus_per_node": 2},
    }
    model, job_spec = artifact(tmp_path / "out" / "model"), artifact(tmp_path / "out" / "js")
    base, split = artifact(tiny_model_dir), artifact(tiny_dataset["sft"])
    run_sft_component(sft_arguments(base, split, config, "run-t", model, job_spec))
    record = yaml.safe_load(Path(job_spec.path).read_text())
    assert record["mode"] == "in-pod-torchrun" and record["processes"] == 2
    assert record["command"][1:6] == ["-m", "torch.distributed.run", "--standalone",
                                      "--nproc-per-node", "2"]  # fmt: skip
    assert model.metadata["steps"] == 2
    training = json.loads((Path(model.path) / "vlaa_training.json").read_text())
    # Two processes share each optimizer step: 2 steps x 2 per device x 2 processes.
    assert training["steps"] == 2 and training["samples"] == len(
        (tiny_dataset["sft"] / "records.jsonl").read_text().splitlines()
    )
    log = [json.loads(line) for line in (Path(model.path) / "vlaa_train_log.jsonl").open()]
    epochs = [row["epoch"] for row in log if "loss" in row]
    # One process alone would cover half of that share of the data.
    assert epochs[-1] == pytest.approx(2 * 4 / training["samples"], rel=0.25)
