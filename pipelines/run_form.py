"""The run form: the pipelines' ``Args:`` docstrings, which KFP turns into the description of
each run parameter.

KFP reads a pipeline function's docstring when ``@dsl.pipeline`` builds it
(kfp/dsl/component_factory.py, ``extract_component_interface``: ``docstring_parser`` parses
``Args:`` and each entry becomes the ``InputSpec.description``) and the compiler writes it to
``root.inputDefinitions.parameters.<name>.description`` of the IR YAML
(kfp/compiler/pipeline_spec_builder.py, ``_build_component_spec_from_component_spec_structure``).

The IR holds parameters in a protobuf map and KFP writes the YAML with ``sort_keys=True``
(pipeline_spec_builder.py, ``write_pipeline_spec_to_file``), so a run form lists them by name,
whatever order the function declares them in. Each description therefore starts with the
parameter's place in the order a user thinks in (``1/7 model``, ``2/7 arm``, ... ``7/7
cluster``); a group's description names its keys (from the config schema, so it cannot drift)
and the schema that documents each one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from vlaa.parameters import STEP_CONFIGS

SECTIONS = ("model", "arm", "data", "training", "evaluation", "publishing", "cluster")
# The schema behind each group parameter, where its keys are documented field by field.
# docs/parameters.md is generated from the same schemas (make docs), one section per group.
SCHEMA_FILES = {
    "data": "docs/parameters.md (BuildDatasetConfig); limits: docs/data.md",
    "sft": "docs/parameters.md (SFTStepConfig); docs/training.md",
    "grpo": "docs/parameters.md (GRPOStepConfig); docs/training.md",
    "evaluate": "docs/parameters.md (EvaluateStepConfig); docs/evaluation.md",
    "publish": "docs/parameters.md (PublishConfig); docs/publishing.md",
}
EMPTY_GROUP = (
    "{} keeps every default (the paper's settings); `vlaa run` and `vlaa submit` fill it from "
    "a preset."
)


@dataclass(frozen=True)
class Entry:
    section: str
    text: str


ENTRIES: dict[str, Entry] = {
    "base_model": Entry(
        "model",
        "the model both arms start from: tiny or tiny:SEED (a small random model, for trying "
        "the pipeline), a folder, hf://ORG/NAME[@REVISION], s3://BUCKET/PREFIX or "
        "registry://NAME@VERSION|ALIAS (docs/base-models.md).",
    ),
    "grpo_init": Entry(
        "arm",
        "the paper's arm: sft (SFT, then GRPO from the SFT model) or base (GRPO from the base "
        "model, no SFT).",
    ),
    "data": Entry("data", "dataset build: sources, validation, eval split, teacher."),
    "sft": Entry("training", "supervised fine-tuning (the SFT arms only)."),
    "grpo": Entry("training", "GRPO with the mixed reward."),
    "evaluate": Entry("evaluation", "greedy evaluation of the base and trained models."),
    "publish": Entry("publishing", "model store, name, alias, promotion gate and serving."),
    "gpu_type": Entry(
        "cluster",
        "the extended resource each GPU step (sft, grpo, evaluate) requests, e.g. "
        "nvidia.com/gpu (manifests/README.md).",
    ),
    "gpu_count": Entry(
        "cluster",
        "GPUs of each GPU step's pod; at least the training's distributed.gpus_per_node.",
    ),
    "gpu_node_selector": Entry(
        "cluster",
        'labels of the GPU pool, e.g. {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}; '
        "{} = any node with the GPU resource.",
    ),
    "gpu_tolerations": Entry(
        "cluster",
        "extra taints of the GPU pool to tolerate, as Kubernetes tolerations (the "
        "nvidia.com/gpu NoSchedule toleration is always there); [] = none.",
    ),
    "cpu_node_selector": Entry(
        "cluster",
        "labels of the nodes for the CPU steps (prepare, build-dataset, publish, compare); "
        "{} = any untainted node.",
    ),
}


def describe(name: str) -> str:
    """The run-form description of parameter ``name`` (KeyError when it has none)."""
    entry = ENTRIES[name]
    place = f"{SECTIONS.index(entry.section) + 1}/{len(SECTIONS)} {entry.section}"
    text = f"{place}: {entry.text}"
    if name in STEP_CONFIGS:
        keys = ", ".join(STEP_CONFIGS[name].model_fields)
        text += f" Keys: {keys}. Documented in {SCHEMA_FILES[name]}. {EMPTY_GROUP}"
    return text


F = TypeVar("F", bound=Callable[..., Any])


def run_form(summary: str) -> Callable[[F], F]:
    """Give a pipeline function the docstring ``summary`` + ``Args:`` for every parameter, in
    the order of :data:`SECTIONS`; apply below ``@dsl.pipeline`` (it must run first)."""

    def decorate(function: F) -> F:
        names = list(inspect.signature(function).parameters)
        missing = [name for name in names if name not in ENTRIES]
        if missing:
            raise KeyError(f"run-form entries missing for {missing}; add them to ENTRIES")
        names.sort(key=lambda name: SECTIONS.index(ENTRIES[name].section))
        args = "\n".join(f"    {name}: {describe(name)}" for name in names)
        function.__doc__ = f"{summary}\n\nArgs:\n{args}\n"
        return function

    return decorate
