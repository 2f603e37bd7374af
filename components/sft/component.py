"""KFP wrapper of the SFT step."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from vlaa.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def sft(
    base_model: Input[Model],
    train_split: Input[Dataset],
    config: dict,
    run_id: str,
    model: Output[Model],
    job_spec: Output[Artifact],
) -> None:
    """Supervised fine-tuning on the SFT split (TRL SFTTrainer, vision encoder frozen).

    ``config.distributed`` spreads it over GPUs (torchrun in this pod) or nodes (a Kubeflow
    TrainJob / PyTorchJob); ``job_spec`` records what ran (the submitted job, as YAML).
    """
    from vlaa.components.sft.runtime import run

    run(locals())
