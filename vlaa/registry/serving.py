"""The KServe ``InferenceService`` that serves a published version (serving: kserve-vllm)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from vlaa.registry.config import PublishConfig


def serving_name(model_name: str, version: str) -> str:
    """A Kubernetes (DNS-1035) name for the version: lowercase, '-', at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{model_name}-{version}".lower()).strip("-")
    if not name[:1].isalpha():
        name = f"m-{name}"
    return name[:63].rstrip("-")


def render_inference_service(config: PublishConfig, version: str, uri: str) -> str:
    """A KServe ``InferenceService`` serving the version with the Hugging Face runtime on vLLM.

    KServe's storage initializer copies ``storageUri`` (the version folder) to /mnt/models; S3
    credentials and endpoint come from the ServiceAccount's Secret, never from this file.
    """
    gpus = str(config.serving_gpus)
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": "4", "memory": "24Gi"},
        "limits": {"cpu": "8", "memory": "32Gi"},
    }
    if config.serving_gpus:
        resources["requests"]["nvidia.com/gpu"] = gpus
        resources["limits"]["nvidia.com/gpu"] = gpus
    predictor: dict[str, Any] = {
        "model": {
            "modelFormat": {"name": "huggingface"},
            "runtime": "kserve-huggingfaceserver",
            "storageUri": uri,
            "args": [
                f"--model_name={config.model_name}",
                "--model_dir=/mnt/models",
                "--backend=vllm",
                f"--tensor-parallel-size={max(1, config.serving_gpus)}",
            ],
            "resources": resources,
        }
    }
    if config.serving_service_account:
        predictor = {"serviceAccountName": config.serving_service_account, **predictor}
    document = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": serving_name(config.model_name, version),
            "labels": {
                "app.kubernetes.io/part-of": "vlaa-thinker",
                "vlaa.io/model": serving_name(config.model_name, "")[:63],
                "vlaa.io/version": version,
            },
            "annotations": {"vlaa.io/model-uri": uri},
        },
        "spec": {"predictor": predictor},
    }
    return yaml.safe_dump(document, sort_keys=False)
