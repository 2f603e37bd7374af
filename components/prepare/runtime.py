"""Runtime side of the prepare component (KFP hides ``dsl.component`` at run time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlaa.cluster import GPU_RESOURCE
from vlaa.components.task_io import TaskIO
from vlaa.modeling.base_models import resolve_base_model
from vlaa.parameters import RunParameters, check_gpu_placement, validate_parameters
from vlaa.registry.lineage import BASE_MODEL_METADATA
from vlaa.stages import stage


def run(arguments: Mapping[str, Any]) -> None:
    """Validate every run parameter (each is an input of the same name), write the base model."""
    io = TaskIO(arguments)
    with stage("prepare") as report:
        params = validate_parameters({name: io.param(name) for name in RunParameters.model_fields})
        check_gpu_placement(io.param("gpu_type", GPU_RESOURCE), io.param("gpu_count", "1"))
        # registry:// reads the registry this run publishes to (publish.store_uri), if set.
        store = params.publish.get("store_uri")  # validated above
        resolved = resolve_base_model(params.base_model, io.path("model"), registry_uri=store)
        # The lineage travels on the model artifacts (components/training.py) to the card.
        io.artifact("model").metadata.update(
            {"source": params.base_model, BASE_MODEL_METADATA: resolved.lineage}
        )
        report.artifacts["base_model"] = str(resolved.path)
