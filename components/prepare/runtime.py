"""Runtime side of the prepare component: KFP artifacts in, the plain step, artifacts out.

Kept apart from ``component.py`` because KFP hides ``dsl.component`` at run time.
"""

from kfp.dsl import Model, Output


def run_from_kfp(parameters: dict, base_model: Output[Model]) -> None:
    """``parameters``: the run parameters as ``vlaa.parameters.RunParameters`` names them."""
    from pathlib import Path

    from vlaa.components.prepare.step import resolve_base_model
    from vlaa.parameters import validate_parameters
    from vlaa.stages import stage

    with stage("prepare") as report:
        params = validate_parameters(parameters)
        path = resolve_base_model(params.base_model, Path(base_model.path))
        base_model.metadata.update({"source": params.base_model})
        report.artifacts["base_model"] = str(path)
