"""vlaa-sft-vs-rl: the paper's study, every arm from one dataset build, compared in one report.

Arms (the paper, "SFT or RL?"): the base model, SFT only, GRPO only (from the base model) and
SFT then GRPO. Each arm is evaluated on the same held-out split; ``compare`` writes one table
and one figure (accuracy per arm, the GRPO arms' reward and response-length curves). The SFT
subset is the ``sft`` group's business (e.g. ``subset_size``), shared by both SFT arms
through the one SFT task they share. Kubernetes settings per task: ``kubernetes.configure``.
"""

from kfp import dsl

from vlaa.components.build_dataset.component import build_dataset as build_dataset_component
from vlaa.components.compare.component import compare as compare_component
from vlaa.components.evaluate.component import evaluate as evaluate_component
from vlaa.components.grpo.component import grpo as grpo_component
from vlaa.components.prepare.component import prepare as prepare_component
from vlaa.components.sft.component import sft as sft_component
from vlaa.pipelines.kubernetes import (
    CPU_NODE_SELECTOR,
    GPU_COUNT,
    GPU_NODE_SELECTOR,
    GPU_TOLERATIONS,
    GPU_TYPE,
    Cluster,
    configure,
)
from vlaa.pipelines.names import STUDY
from vlaa.pipelines.run_form import run_form

SUMMARY = "Every arm of the study from one dataset build, evaluated and compared."
PIPELINE_NAME = STUDY


@dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
@run_form(
    "Every arm of the study from one dataset build, evaluated and compared."
)  # the run form's descriptions (pipelines/run_form.py)
def vlaa_sft_vs_rl(
    base_model: str = "tiny",
    data: dict = {},  # noqa: B006 - KFP parameters are declared with literal defaults
    sft: dict = {},  # noqa: B006
    grpo: dict = {},  # noqa: B006
    evaluate: dict = {},  # noqa: B006
    # Cluster placement (kubernetes.py); the local runner ignores them.
    gpu_type: str = GPU_TYPE,
    gpu_count: str = GPU_COUNT,
    gpu_node_selector: dict = GPU_NODE_SELECTOR,
    gpu_tolerations: list = GPU_TOLERATIONS,
    cpu_node_selector: dict = CPU_NODE_SELECTOR,
) -> None:
    cluster = Cluster(gpu_type, gpu_count, gpu_node_selector, gpu_tolerations, cpu_node_selector)
    prepared = prepare_component(
        base_model=base_model,
        grpo_init="sft",  # validated like any run; the study runs both GRPO arms anyway
        data=data,
        sft=sft,
        grpo=grpo,
        evaluate=evaluate,
        publish={},
        gpu_type=gpu_type,
        gpu_count=gpu_count,
    )
    configure(prepared, cluster)
    data_task = build_dataset_component(
        config=data, run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER
    ).after(prepared)
    configure(data_task, cluster)
    base_model_artifact = prepared.outputs["model"]
    eval_split = data_task.outputs["eval_split"]

    base_eval = evaluate_component(
        model=base_model_artifact,
        eval_split=eval_split,
        config=evaluate,
        label="base",
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    ).set_display_name("evaluate base")
    configure(base_eval, cluster)

    def evaluated(model, label: str):
        task = evaluate_component(
            model=model,
            eval_split=eval_split,
            config=evaluate,
            label=label,
            run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            base_report=base_eval.outputs["report"],
        ).set_display_name(f"evaluate {label}")
        return configure(task, cluster)

    tuned = sft_component(
        base_model=base_model_artifact,
        train_split=data_task.outputs["sft_split"],
        config=sft,
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    )
    configure(tuned, cluster)

    def grpo_from(init_model, arm: str):
        task = grpo_component(
            init_model=init_model,
            train_split=data_task.outputs["rl_split"],
            config=grpo,
            run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            arm=arm,
        ).set_display_name(f"grpo (from {arm})")
        return configure(task, cluster)

    from_base = grpo_from(base_model_artifact, "base")
    from_sft = grpo_from(tuned.outputs["model"], "sft")
    compared = compare_component(
        base_report=base_eval.outputs["report"],
        sft_report=evaluated(tuned.outputs["model"], "sft").outputs["report"],
        grpo_report=evaluated(from_base.outputs["model"], "grpo").outputs["report"],
        sft_grpo_report=evaluated(from_sft.outputs["model"], "sft-grpo").outputs["report"],
        grpo_model=from_base.outputs["model"],
        sft_grpo_model=from_sft.outputs["model"],
    ).set_display_name("compare arms")
    configure(compared, cluster)
