"""The training-pod scrape rules (manifests/prometheus/scrape-configs.yml and the PodMonitor)
keep exactly one target per trainer container of a KFP step pod, a TrainJob pod and a
PyTorchJob pod, on a real Prometheus (Debian's package).

Debian's Prometheus is built without Kubernetes discovery, so file discovery hands it the
targets Kubernetes pod discovery would make (one per declared container port, one for a
container without ports, with the ``__meta_kubernetes_*`` labels of its documentation) for
the pods each engine creates: KFP/Argo (init ``kfp-launcher``, ``wait``, ``main``, no ports),
Kubeflow Trainer (``node``, its rendezvous port 29500) and the Training Operator (``pytorch``,
``pytorchjob-port`` 23456 and the ``metrics`` port of vlaa/launch/job_specs.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from support.manifest_tools import MANIFESTS
from support.prometheus_servers import _start, prometheus_binaries  # noqa: F401 - fixture

from vlaa.cluster import METRICS_LABEL, METRICS_PORT, METRICS_PORT_NAME
from vlaa.launch.config import DistributedConfig
from vlaa.launch.job_specs import build_pytorchjob_spec

SCRAPE_CONFIGS = MANIFESTS / "prometheus/scrape-configs.yml"
POD_MONITOR = MANIFESTS / "components/prometheus-operator/podmonitor-training.yaml"
JOB = "vlaa-training-pods"


def _pytorchjob_ports() -> list[dict[str, Any]]:
    spec = build_pytorchjob_spec(
        DistributedConfig(nodes=2, backend="pytorchjob"),
        name="j",
        namespace="vlaa",
        image="i",
        worker_args=[],
        priority_class="p",
    )
    master = spec["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    # The operator's defaulting adds its own port (training-operator, pytorch_defaults.go).
    return [*master["containers"][0]["ports"], {"name": "pytorchjob-port", "containerPort": 23456}]


def _pods() -> dict[str, tuple[str, list[tuple[str, bool, list[dict[str, Any]]]]]]:
    """pod name -> (IP, [(container, is init, ports)]); all opt in to scraping but the last."""
    return {
        "vlaa-thinker-x-system-container-impl-1": (
            "127.0.0.11",
            [("kfp-launcher", True, []), ("wait", False, []), ("main", False, [])],
        ),
        "vlaa-grpo-run-1a2b3c-node-0-0-abcde": (
            "127.0.0.12",
            [("node", False, [{"containerPort": 29500}])],
        ),
        "vlaa-sft-run-4d5e6f-master-0": ("127.0.0.13", [("pytorch", False, _pytorchjob_ports())]),
        "vlaa-thinker-x-system-container-impl-2": ("127.0.0.14", [("main", False, [])]),
    }


def _discovered() -> list[dict[str, Any]]:
    """File-discovery target groups with the labels Kubernetes pod discovery gives."""
    groups = []
    for index, (pod, (ip, containers)) in enumerate(_pods().items()):
        scraped = "true" if index < 3 else "false"
        for container, init, ports in containers:
            for port in ports or [None]:
                labels = {
                    "__meta_kubernetes_namespace": "vlaa",
                    "__meta_kubernetes_pod_name": pod,
                    "__meta_kubernetes_pod_ip": ip,
                    "__meta_kubernetes_pod_label_vlaa_io_metrics": scraped,
                    "__meta_kubernetes_pod_container_name": container,
                    "__meta_kubernetes_pod_container_init": str(init).lower(),
                }
                address = ip
                if port is not None:
                    number = str(port["containerPort"])
                    labels["__meta_kubernetes_pod_container_port_number"] = number
                    labels["__meta_kubernetes_pod_container_port_name"] = port.get("name", "")
                    address = f"{ip}:{number}"
                groups.append({"targets": [address], "labels": labels})
    return groups


def _training_job() -> dict[str, Any]:
    config = yaml.safe_load(SCRAPE_CONFIGS.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == JOB]
    return job


def test_the_pod_monitor_applies_the_same_rules() -> None:
    """The operator adds the label selector, namespace, pod and container labels itself; the
    rest of the PodMonitor's relabelings are the scrape config's, in order."""
    monitor = yaml.safe_load(POD_MONITOR.read_text())
    assert monitor["spec"]["selector"]["matchLabels"] == dict([METRICS_LABEL])
    names = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    converted = [
        {names.get(key, key): value for key, value in rule.items()}
        for rule in monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]
    ]
    rules = _training_job()["relabel_configs"]
    assert converted == rules[1 : 1 + len(converted)]
    assert converted[-1]["replacement"] == f"$1:{METRICS_PORT}"
    assert METRICS_PORT_NAME in {p.get("name") for p in _pytorchjob_ports()}


@pytest.mark.slow
def test_one_target_per_trainer_container_of_every_engine(
    prometheus_binaries: None,  # noqa: F811 - fixture
    tmp_path: Path,
) -> None:
    job = _training_job()
    job.pop("kubernetes_sd_configs")
    (tmp_path / "pods.json").write_text(json.dumps(_discovered()))
    job["file_sd_configs"] = [{"files": [str(tmp_path / "pods.json")]}]
    job["scrape_interval"] = "1h"  # nothing listens; only discovery and relabeling matter
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": [job]}))
    server = _start(
        "prometheus",
        tmp_path,
        lambda port: [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            body = requests.get(f"{server.url}/api/v1/targets", timeout=5).json()["data"]
            if body["activeTargets"] or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    finally:
        server.stop()
    active = sorted(
        (t["labels"]["pod"], t["labels"]["container"], t["labels"]["instance"])
        for t in body["activeTargets"]
    )
    assert active == [
        ("vlaa-grpo-run-1a2b3c-node-0-0-abcde", "node", f"127.0.0.12:{METRICS_PORT}"),
        ("vlaa-sft-run-4d5e6f-master-0", "pytorch", f"127.0.0.13:{METRICS_PORT}"),
        ("vlaa-thinker-x-system-container-impl-1", "main", f"127.0.0.11:{METRICS_PORT}"),
    ]
    assert len(body["droppedTargets"]) == len(_discovered()) - 3
