"""The pipeline's run parameters: few, grouped, validated in one place.

The run form has one field per group (``data``, ``sft``, ``grpo``, ``evaluate``, ``publish``),
each a JSON object whose keys are the fields of that step's config; plus the base model and the
arm. ``vlaa run``/``vlaa submit`` and the pipeline's first step validate with the same code,
so an unknown key or bad value fails before any training starts, naming the parameter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vlaa.data.config import BuildDatasetConfig
from vlaa.errors import UserError, describe_validation_error
from vlaa.evaluation.config import EvaluateStepConfig
from vlaa.modeling.sources.uri import parse_model_source
from vlaa.presets import preset
from vlaa.registry.config import PublishConfig
from vlaa.training.config import GRPOStepConfig, SFTStepConfig

GRPO_INITS = ("sft", "base")
# A Kubernetes extended resource name (domain-qualified), e.g. nvidia.com/gpu, amd.com/gpu.
_RESOURCE_NAME = re.compile(
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_POSITIVE_INTEGER = re.compile(r"^[1-9][0-9]*$")

STEP_CONFIGS: dict[str, type[BaseModel]] = {
    "data": BuildDatasetConfig,
    "sft": SFTStepConfig,
    "grpo": GRPOStepConfig,
    "evaluate": EvaluateStepConfig,
    "publish": PublishConfig,
}


class ParameterError(UserError):
    """One or more run parameters are invalid; the message names each."""


class RunParameters(BaseModel):
    """Everything a run of ``vlaa-thinker`` takes."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        "tiny",
        description="'tiny', 'tiny:SEED', a model folder, hf://ORG/NAME[@REV], "
        "s3://BUCKET/PREFIX or registry://NAME@VERSION|ALIAS (docs/base-models.md)",
    )
    grpo_init: Literal["sft", "base"] = Field(
        "sft", description="start GRPO from the SFT model ('sft') or the base model ('base')"
    )
    data: dict[str, Any] = Field(default_factory=dict)
    sft: dict[str, Any] = Field(default_factory=dict)
    grpo: dict[str, Any] = Field(default_factory=dict)
    evaluate: dict[str, Any] = Field(default_factory=dict)
    publish: dict[str, Any] = Field(default_factory=dict)

    @field_validator("base_model")
    @classmethod
    def _known_source_form(cls, value: str) -> str:
        parse_model_source(value)  # form only: no network, nothing fetched
        return value


def validate_parameters(raw: dict[str, Any]) -> RunParameters:
    """Validate the top level and every group; raise ``ParameterError`` listing every problem."""
    problems: list[str] = []
    try:
        params = RunParameters.model_validate(raw)
    except ValidationError as error:
        raise ParameterError(describe_validation_error(error, "parameters")) from None
    for group, config_type in STEP_CONFIGS.items():
        try:
            config_type.model_validate(getattr(params, group))
        except ValidationError as error:
            problems.append(describe_validation_error(error, group))
    if problems:
        raise ParameterError("; ".join(problems))
    return params


def load_parameter_file(path: Path) -> dict[str, Any]:
    """Read a YAML (or JSON) file of run parameters."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ParameterError(f"cannot read parameter file {path}: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ParameterError(
            f"parameter file {path} must hold a mapping, not {type(loaded).__name__}"
        )
    return loaded


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base`` (groups merge key by key)."""
    merged = {k: merge(v, {}) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate_over_preset(user: dict[str, Any], preset_name: str) -> RunParameters:
    """The run parameters among ``user``'s keys (a ``--params`` file; other keys, a pipeline's
    own cluster settings, are left to the caller) over the named preset, validated."""
    run_values = {key: value for key, value in user.items() if key in RunParameters.model_fields}
    return validate_parameters(merge(preset(preset_name), run_values))


def check_gpu_placement(gpu_type: Any, gpu_count: Any) -> tuple[str, str]:
    """``(gpu_type, gpu_count)`` as the strings the compiled pipelines take; an int count is
    accepted and converted. KFP's driver reads both as strings and, given anything else or a
    count it cannot parse, starts the GPU steps without a GPU (pipelines/kubernetes.py),
    so a bad value is refused here, before any training."""
    problems = []
    if isinstance(gpu_count, int) and not isinstance(gpu_count, bool):
        gpu_count = str(gpu_count)
    if not isinstance(gpu_count, str) or not _POSITIVE_INTEGER.match(gpu_count):
        problems.append(f"gpu_count: {gpu_count!r} is not a positive whole number of GPUs")
    if not isinstance(gpu_type, str) or not _RESOURCE_NAME.match(gpu_type):
        problems.append(
            f"gpu_type: {gpu_type!r} is not a Kubernetes resource name such as nvidia.com/gpu"
        )
    if problems:
        raise ParameterError("; ".join(problems))
    return gpu_type, gpu_count
