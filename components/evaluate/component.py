"""KFP wrapper of the evaluate step."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from vlaa.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def evaluate(
    model: Input[Model],
    eval_split: Input[Dataset],
    config: dict,
    label: str,
    metrics: Output[Metrics],
    report: Output[Artifact],
) -> None:
    """Greedy generation on the eval split; accuracy overall and per reward type."""
    from vlaa.components.evaluate.runtime import run_from_kfp

    run_from_kfp(model, eval_split, config, label, metrics, report)
