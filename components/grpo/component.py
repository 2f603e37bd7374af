"""KFP wrapper of the GRPO step."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from vlaa.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def grpo(
    init_model: Input[Model],
    train_split: Input[Dataset],
    config: dict,
    run_id: str,
    arm: str,
    model: Output[Model],
    metrics: Output[Metrics],
    curves: Output[HTML],
    job_spec: Output[Artifact],
) -> None:
    """GRPO with the mixed reward on the RL split (TRL GRPOTrainer); reward/KL/length curves.

    ``config.distributed`` spreads it over GPUs (torchrun in this pod) or nodes (a Kubeflow
    TrainJob / PyTorchJob); ``job_spec`` records what ran (the submitted job, as YAML).
    """
    from vlaa.components.grpo.runtime import run

    run(locals())
