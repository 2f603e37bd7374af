"""The compiled pipelines committed under ``pipelines/compiled/`` (what users upload in the
Kubeflow UI) are up to date with the code, and hold no secret values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from support.manifest_tools import scan_text

from vlaa.pipelines.compile import PIPELINES, compile_pipeline

COMPILED = Path(__file__).resolve().parents[2] / "pipelines" / "compiled"
IMAGE_VARIABLES = (
    "VLAA_IMAGE_REGISTRY",
    "VLAA_IMAGE_TAG",
    "VLAA_IMAGE_DIGEST_TRAINER",
    "VLAA_IMAGE_DIGEST_TOOLS",
)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_committed_pipeline_yaml_is_fresh(name: str, tmp_path: Path) -> None:
    # The committed YAML names the default images; image variables are read at import time.
    overridden = [variable for variable in IMAGE_VARIABLES if os.environ.get(variable)]
    assert not overridden, f"unset {', '.join(overridden)} to compare with the committed YAML"
    committed = COMPILED / f"{name}.yaml"
    assert committed.is_file(), f"{committed} is missing: run `make compile`"
    fresh = compile_pipeline(name, tmp_path / f"{name}.yaml").read_text()
    assert fresh == committed.read_text(), f"{committed} is stale: run `make compile`"


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_committed_pipeline_yaml_holds_no_secrets(name: str) -> None:
    path = COMPILED / f"{name}.yaml"
    assert scan_text(path.read_text(), str(path)) == []


def test_kubernetes_manifest_holds_the_pipeline_and_its_version(tmp_path: Path) -> None:
    """`vlaa compile --kubernetes-manifest`: resources `kubectl apply` takes, same spec."""
    path = compile_pipeline(
        "vlaa-sft-vs-rl",
        tmp_path / "k8s.yaml",
        kubernetes_manifest=True,
        namespace="vlaa",
        version="0.2.0",
    )
    docs = list(yaml.safe_load_all(path.read_text()))
    kinds = {doc["kind"]: doc for doc in docs}
    assert set(kinds) == {"Pipeline", "PipelineVersion"}
    assert all(doc["apiVersion"] == "pipelines.kubeflow.org/v2beta1" for doc in docs)
    assert kinds["Pipeline"]["metadata"] == {"name": "vlaa-sft-vs-rl", "namespace": "vlaa"}
    version = kinds["PipelineVersion"]
    assert version["metadata"] == {"name": "vlaa-sft-vs-rl-0.2.0", "namespace": "vlaa"}
    assert version["spec"]["pipelineName"] == "vlaa-sft-vs-rl"
    # The IR file holds the pipeline spec, then the platform (Kubernetes) spec.
    ir, platform = yaml.safe_load_all((COMPILED / "vlaa-sft-vs-rl.yaml").read_text())
    assert version["spec"]["pipelineSpec"]["root"] == ir["root"]
    assert version["spec"]["platformSpec"] == platform
    assert scan_text(path.read_text(), str(path)) == []
