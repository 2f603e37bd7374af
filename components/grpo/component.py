"""KFP wrapper of the GRPO step."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from vlaa.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def grpo(
    init_model: Input[Model],
    train_split: Input[Dataset],
    config: dict,
    model: Output[Model],
    metrics: Output[Metrics],
) -> None:
    """GRPO with the mixed reward on the RL split (TRL GRPOTrainer)."""
    from vlaa.components.grpo.runtime import run_from_kfp

    run_from_kfp(init_model, train_split, config, model, metrics)
