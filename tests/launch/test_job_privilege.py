"""Least privilege of multi-node jobs (docs/cluster.md): the step submits with the training
launcher's token when its Secret is mounted, and the job's pods run as the worker account,
which has no rights and no token."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s

from vlaa.cluster import TRAINING_LAUNCHER_TOKEN_DIR, TRAINING_WORKER_SERVICE_ACCOUNT
from vlaa.launch import trainjob
from vlaa.launch.config import DistributedConfig
from vlaa.launch.job_specs import build_pytorchjob_spec, build_trainjob_spec

COMMON = {"name": "j", "namespace": "vlaa", "image": "img:1", "worker_args": ["--stage", "sft"]}


def trainjob_pod_spec(config: DistributedConfig) -> dict:
    spec = build_trainjob_spec(config, **COMMON)["spec"]
    if config.trainer_api == "runtime-patches":
        template = spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
        return template["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    return spec["podTemplateOverrides"][0]["spec"]


@pytest.mark.parametrize("api", ["runtime-patches", "pod-template-overrides"])
def test_trainjob_pods_run_as_the_worker_account(api: str) -> None:
    pod = trainjob_pod_spec(DistributedConfig(nodes=2, trainer_api=api))
    assert pod["serviceAccountName"] == TRAINING_WORKER_SERVICE_ACCOUNT
    other = trainjob_pod_spec(DistributedConfig(nodes=2, trainer_api=api, service_account="wi"))
    assert other["serviceAccountName"] == "wi"


def test_pytorchjob_pods_run_as_the_worker_account_without_a_token() -> None:
    spec = build_pytorchjob_spec(DistributedConfig(nodes=3), priority_class="p", **COMMON)
    for replica in spec["spec"]["pytorchReplicaSpecs"].values():
        pod = replica["template"]["spec"]
        assert pod["serviceAccountName"] == TRAINING_WORKER_SERVICE_ACCOUNT
        assert pod["automountServiceAccountToken"] is False


def test_an_empty_service_account_is_refused() -> None:
    with pytest.raises(ValueError, match="service_account"):
        DistributedConfig(service_account="")


def test_the_mounted_launcher_token_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files of a service-account-token Secret (token, ca.crt), with the API server's
    address from the pod's environment as the kubelet sets it."""
    (tmp_path / "token").write_text("launcher-token")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    api = trainjob.kubernetes_client(tmp_path)
    assert isinstance(api, k8s.ApiClient)
    assert api.configuration.host == "https://10.96.0.1:443"
    assert api.configuration.get_api_key_with_prefix("authorization") == "bearer launcher-token"
    assert api.configuration.ssl_ca_cert == str(tmp_path / "ca.crt")


def test_without_the_token_the_pods_own_account_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No mounted token: the in-cluster account (here none, and no kubeconfig: a clear error)."""
    assert not Path(TRAINING_LAUNCHER_TOKEN_DIR).exists()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with pytest.raises(trainjob.JobSubmitError, match="no Kubernetes API"):
        trainjob.kubernetes_client(tmp_path / "not-mounted")
