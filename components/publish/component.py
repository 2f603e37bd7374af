"""KFP wrapper of the publish step."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Model, Output

from vlaa.images import TOOLS_IMAGE


@dsl.component(base_image=TOOLS_IMAGE, install_kfp_package=False)
def publish(
    model: Input[Model],
    eval_report: Input[Artifact],
    base_report: Input[Artifact],
    card_files: Input[Artifact],
    config: dict,
    arm: str,
    run_id: str,
    published: Output[Artifact],
    model_card: Output[Markdown],
) -> None:
    """Copy model + processor + model card to a new version in the model store; gate the alias."""
    from vlaa.components.publish.runtime import run

    run(locals())
