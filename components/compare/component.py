"""KFP wrapper of the compare step (the SFT-vs-RL study report)."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Input, Markdown, Metrics, Model, Output

from vlaa.images import TOOLS_IMAGE


@dsl.component(base_image=TOOLS_IMAGE, install_kfp_package=False)
def compare(
    base_report: Input[Artifact],
    sft_report: Input[Artifact],
    grpo_report: Input[Artifact],
    sft_grpo_report: Input[Artifact],
    grpo_model: Input[Model],
    sft_grpo_model: Input[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
    page: Output[HTML],
) -> None:
    """Accuracy of every arm and the GRPO arms' reward/length curves, side by side."""
    from vlaa.components.compare.runtime import run

    run(locals())
