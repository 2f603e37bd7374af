"""vlaa-sft-vs-rl: the paper's study, every arm from one dataset build, compared in one report.

Arms (PAPER.md, "SFT or RL?"): the base model, SFT only, GRPO only (from the base model) and
SFT then GRPO. Each arm is evaluated on the same held-out split; ``compare`` writes one table
and one figure (accuracy per arm, the GRPO arms' reward and response-length curves). The SFT
subset is the ``sft_config`` group's business (e.g. ``subset_size``), shared by both SFT arms
through the one SFT task they share. Kubernetes settings per task: ``kubernetes.configure``.
"""

from kfp import dsl

from vlaa.components.build_dataset.component import build_dataset
from vlaa.components.compare.component import compare
from vlaa.components.evaluate.component import evaluate
from vlaa.components.grpo.component import grpo
from vlaa.components.prepare.component import prepare
from vlaa.components.sft.component import sft
from vlaa.pipelines.kubernetes import (
    CPU_NODE_SELECTOR,
    GPU_COUNT,
    GPU_NODE_SELECTOR,
    GPU_TOLERATIONS,
    GPU_TYPE,
    Cluster,
    configure,
)

PIPELINE_NAME = "vlaa-sft-vs-rl"


@dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
def vlaa_sft_vs_rl(
    base_model: str = "tiny",
    data: dict = {},  # noqa: B006 - KFP parameters are declared with literal defaults
    sft_config: dict = {},  # noqa: B006
    grpo_config: dict = {},  # noqa: B006
    evaluate_config: dict = {},  # noqa: B006
    # Cluster placement (kubernetes.py); the local runner ignores them.
    gpu_type: str = GPU_TYPE,
    gpu_count: int = GPU_COUNT,
    gpu_node_selector: dict = GPU_NODE_SELECTOR,
    gpu_tolerations: list = GPU_TOLERATIONS,
    cpu_node_selector: dict = CPU_NODE_SELECTOR,
) -> None:
    cluster = Cluster(gpu_type, gpu_count, gpu_node_selector, gpu_tolerations, cpu_node_selector)
    prepared = prepare(
        base_model_source=base_model,
        grpo_init="sft",  # validated like any run; the study runs both GRPO arms anyway
        data=data,
        sft=sft_config,
        grpo=grpo_config,
        evaluate=evaluate_config,
        publish={},
    )
    configure(prepared, cluster)
    data_task = build_dataset(config=data, run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER).after(prepared)
    configure(data_task, cluster)
    base_model_artifact = prepared.outputs["base_model"]
    eval_split = data_task.outputs["eval_split"]

    base_eval = evaluate(
        model=base_model_artifact,
        eval_split=eval_split,
        config=evaluate_config,
        label="base",
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    ).set_display_name("evaluate base")
    configure(base_eval, cluster)

    def evaluated(model, label: str):
        task = evaluate(
            model=model,
            eval_split=eval_split,
            config=evaluate_config,
            label=label,
            run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            base_report=base_eval.outputs["report"],
        ).set_display_name(f"evaluate {label}")
        return configure(task, cluster)

    tuned = sft(
        base_model=base_model_artifact,
        train_split=data_task.outputs["sft_split"],
        config=sft_config,
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    )
    configure(tuned, cluster)
    from_base = grpo(
        init_model=base_model_artifact,
        train_split=data_task.outputs["rl_split"],
        config=grpo_config,
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        arm="base",
    ).set_display_name("grpo (from base)")
    configure(from_base, cluster)
    from_sft = grpo(
        init_model=tuned.outputs["model"],
        train_split=data_task.outputs["rl_split"],
        config=grpo_config,
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        arm="sft",
    ).set_display_name("grpo (from sft)")
    configure(from_sft, cluster)
    compared = compare(
        base_report=base_eval.outputs["report"],
        sft_report=evaluated(tuned.outputs["model"], "sft").outputs["report"],
        grpo_report=evaluated(from_base.outputs["model"], "grpo").outputs["report"],
        sft_grpo_report=evaluated(from_sft.outputs["model"], "sft-grpo").outputs["report"],
        grpo_model=from_base.outputs["model"],
        sft_grpo_model=from_sft.outputs["model"],
    ).set_display_name("compare arms")
    configure(compared, cluster)
