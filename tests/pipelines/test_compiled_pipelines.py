"""The compiled pipelines committed under ``pipelines/compiled/`` (what users upload in the
Kubeflow UI) are up to date with the code, and hold no secret values."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

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


_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


def _resource_placeholders(resources: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, parameter) of every placeholder among an executor's resource settings."""
    found = []
    for field, value in resources.items():
        if isinstance(value, dict):
            found += [(f"{field}.{f}", p) for f, p in _resource_placeholders(value)]
        elif isinstance(value, str):
            found += [(field, name) for name in _PLACEHOLDER.findall(value)]
    return found


def _parameter_type(spec: dict[str, Any], dag: dict[str, Any], source: dict[str, Any]) -> str:
    """The type of the value a task input receives from its DAG."""
    if "componentInputParameter" in source:
        return dag["inputDefinitions"]["parameters"][source["componentInputParameter"]][
            "parameterType"
        ]
    if "taskOutputParameter" in source:
        output = source["taskOutputParameter"]
        producer = dag["dag"]["tasks"][output["producerTask"]]["componentRef"]["name"]
        outputs = spec["components"][producer]["outputDefinitions"]["parameters"]
        return outputs[output["outputParameterKey"]]["parameterType"]
    constant = source.get("runtimeValue", {}).get("constant")
    return "STRING" if isinstance(constant, str) else type(constant).__name__


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_resource_placeholders_name_string_parameters(name: str) -> None:
    """KFP's driver resolves accelerator and resource placeholders with
    resolvePodSpecInputRuntimeParameter (backend/src/v2/driver/resolve.go), which returns
    ``val.GetStringValue()``: a NUMBER_INTEGER value reads as "" and initPodSpecPatch
    (driver.go) then sets no nvidia.com/gpu limit at all, so training would run on the CPU
    without an error. Every value such a placeholder names must be a STRING, in every task of
    every DAG (the root and the dsl.If branches)."""
    spec = next(yaml.safe_load_all((COMPILED / f"{name}.yaml").read_text()))
    executors = spec["deploymentSpec"]["executors"]
    dags = [spec["root"], *(c for c in spec["components"].values() if "dag" in c)]
    checked = set()
    for dag in dags:
        for task_name, task in dag["dag"]["tasks"].items():
            component = spec["components"][task["componentRef"]["name"]]
            if "executorLabel" not in component:
                continue
            resources = executors[component["executorLabel"]]["container"].get("resources", {})
            inputs = task["inputs"].get("parameters", {})
            for field, parameter in _resource_placeholders(resources):
                kind = _parameter_type(spec, dag, inputs[parameter])
                assert kind == "STRING", f"{task_name} {field}: {parameter} is {kind}"
                checked.add(field)
    assert {"accelerator.resourceCount", "accelerator.resourceType"} <= checked
    root = spec["root"]["inputDefinitions"]["parameters"]
    assert root["gpu_count"]["parameterType"] == root["gpu_type"]["parameterType"] == "STRING"
