"""KFP wrapper of the prepare step: validate the run parameters, resolve the base model."""

from kfp import dsl
from kfp.dsl import Model, Output

from vlaa.images import TOOLS_IMAGE


@dsl.component(base_image=TOOLS_IMAGE, install_kfp_package=False)
def prepare(
    base_model: str,
    grpo_init: str,
    data: dict,
    sft: dict,
    grpo: dict,
    evaluate: dict,
    publish: dict,
    model: Output[Model],
    # Literals: KFP runs this function's source alone, without the module's imports.
    gpu_type: str = "nvidia.com/gpu",
    gpu_count: str = "1",
) -> None:
    """Validate every run parameter (fail before training), then write the base model.

    Each run-parameter group is its own input, named as in the run form and ``--params``
    files: KFP's local runner cannot substitute pipeline parameters nested inside a dict literal.
    ``gpu_type`` / ``gpu_count`` are the run's GPU placement, checked here too.
    """
    from vlaa.components.prepare.runtime import run

    run(locals())
