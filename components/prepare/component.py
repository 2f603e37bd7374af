"""KFP wrapper of the prepare step: validate the run parameters, resolve the base model."""

from kfp import dsl
from kfp.dsl import Model, Output

from vlaa.images import TOOLS_IMAGE


# Each group is its own input: KFP's local runner cannot substitute pipeline parameters nested
# inside a dict literal.
@dsl.component(base_image=TOOLS_IMAGE, install_kfp_package=False)
def prepare(
    base_model_source: str,
    grpo_init: str,
    data: dict,
    sft: dict,
    grpo: dict,
    evaluate: dict,
    publish: dict,
    base_model: Output[Model],
) -> None:
    """Validate every run parameter (fail before training), then write the base model."""
    from vlaa.components.prepare.runtime import run_from_kfp

    parameters = {
        "base_model": base_model_source,
        "grpo_init": grpo_init,
        "data": data,
        "sft": sft,
        "grpo": grpo,
        "evaluate": evaluate,
        "publish": publish,
    }
    run_from_kfp(parameters, base_model)
