"""KFP wrapper of the build_dataset step."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Markdown, Output

from vlaa.images import TOOLS_IMAGE


@dsl.component(base_image=TOOLS_IMAGE, install_kfp_package=False)
def build_dataset(
    config: dict,
    sft_split: Output[Dataset],
    rl_split: Output[Dataset],
    eval_split: Output[Dataset],
    data_card: Output[Markdown],
    card_files: Output[Artifact],
    run_id: str = "",
) -> None:
    """The six-step data engine: sources -> caption -> reason -> rewrite -> verify -> split."""
    from vlaa.components.build_dataset.runtime import run

    run(locals())
