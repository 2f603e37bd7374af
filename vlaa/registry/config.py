"""The publish step's config: store, name, promotion gate, serving (torch-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_STORE_URI = "runs/registry"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class PublishConfig(BaseModel):
    """Where and under which name to publish, and the promotion gate."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    store_uri: str = Field(
        DEFAULT_STORE_URI,
        min_length=1,
        description="Local folder, file:// or s3://bucket/prefix (endpoint and keys from env).",
    )
    model_name: str = Field("vlaa-thinker-tiny", pattern=NAME_PATTERN)
    gate_min_accuracy: float | None = Field(
        None, ge=0, description="Promote only if metrics['accuracy'] >= this; None = no check."
    )
    gate_min_average_delta: float | None = Field(
        None,
        description="Promote only if the average score >= the base model's average + this "
        "margin (may be negative); None = no check.",
    )
    gate_floors: dict[str, float] = Field(
        default_factory=dict,
        description="Per-metric minimums, e.g. {'accuracy_mathvista': 0.5}; all must hold.",
    )
    alias: str = Field("latest", pattern=NAME_PATTERN)
    serving: Literal["none", "kserve-vllm"] = Field(
        "none", description="Also write a KServe InferenceService (vLLM) into the version."
    )
    serving_service_account: str | None = Field(
        None, description="ServiceAccount whose Secret gives KServe read access to the store."
    )
    serving_gpus: int = Field(1, ge=0, description="GPUs per serving replica.")
