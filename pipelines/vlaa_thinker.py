"""The ``vlaa-thinker`` pipeline: build dataset -> (SFT) -> GRPO -> evaluate -> publish.

``grpo_init`` picks the paper's arm: GRPO from the SFT model or from the base model. The two
arms are two branches of one DAG (``dsl.If``/``dsl.Elif``), each ending in its own evaluate and
publish tasks, because KFP 2.17's local runner cannot merge artifacts from branches with
``dsl.OneOf``. A value other than 'sft' or 'base' is rejected by the first task (prepare).
Every task gets its Kubernetes settings from ``kubernetes.configure`` (placement from the
``gpu_*`` / ``cpu_node_selector`` run parameters, env, cache, retries, timeout).
"""

from kfp import dsl

from vlaa.components.build_dataset.component import build_dataset as build_dataset_component
from vlaa.components.evaluate.component import evaluate as evaluate_component
from vlaa.components.grpo.component import grpo as grpo_component
from vlaa.components.prepare.component import prepare as prepare_component
from vlaa.components.publish.component import publish as publish_component
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
from vlaa.pipelines.names import THINKER
from vlaa.pipelines.run_form import run_form

SUMMARY = "Build the dataset, train (SFT and/or GRPO), evaluate and publish one model."
PIPELINE_NAME = THINKER


def _train_tail(init_model, data, base_eval, params: dict, arm: str, cluster: Cluster) -> None:
    """GRPO from ``init_model``, then evaluate and publish the result."""
    trained = grpo_component(
        init_model=init_model,
        train_split=data.outputs["rl_split"],
        config=params["grpo"],
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        arm=arm,
    ).set_display_name(f"grpo (from {arm})")
    configure(trained, cluster)
    scored = evaluate_component(
        model=trained.outputs["model"],
        eval_split=data.outputs["eval_split"],
        config=params["evaluate"],
        label="trained",
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        base_report=base_eval.outputs["report"],  # the report compares with the base model
    ).set_display_name("evaluate trained")
    configure(scored, cluster)
    published = publish_component(
        model=trained.outputs["model"],
        eval_report=scored.outputs["report"],
        base_report=base_eval.outputs["report"],
        card_files=data.outputs["card_files"],
        config=params["publish"],
        arm=arm,
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    ).set_display_name("publish")
    configure(published, cluster)


@dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
@run_form(
    "Build the dataset, train (SFT and/or GRPO), evaluate and publish one model."
)  # the run form's descriptions (pipelines/run_form.py)
def vlaa_thinker(
    base_model: str = "tiny",
    grpo_init: str = "sft",
    data: dict = {},  # noqa: B006 - KFP parameters are declared with literal defaults
    sft: dict = {},  # noqa: B006
    grpo: dict = {},  # noqa: B006
    evaluate: dict = {},  # noqa: B006
    publish: dict = {},  # noqa: B006
    # Cluster placement (kubernetes.py); the local runner ignores them.
    gpu_type: str = GPU_TYPE,
    gpu_count: str = GPU_COUNT,
    gpu_node_selector: dict = GPU_NODE_SELECTOR,
    gpu_tolerations: list = GPU_TOLERATIONS,
    cpu_node_selector: dict = CPU_NODE_SELECTOR,
) -> None:
    cluster = Cluster(gpu_type, gpu_count, gpu_node_selector, gpu_tolerations, cpu_node_selector)
    params = {
        "data": data,
        "sft": sft,
        "grpo": grpo,
        "evaluate": evaluate,
        "publish": publish,
    }
    prepared = prepare_component(
        base_model=base_model,
        grpo_init=grpo_init,
        gpu_type=gpu_type,
        gpu_count=gpu_count,
        **params,
    )
    configure(prepared, cluster)
    data_task = build_dataset_component(
        config=data, run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER
    ).after(prepared)
    configure(data_task, cluster)
    base_eval = evaluate_component(
        model=prepared.outputs["model"],
        eval_split=data_task.outputs["eval_split"],
        config=evaluate,
        label="base",
        run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    ).set_display_name("evaluate base")
    configure(base_eval, cluster)
    with dsl.If(grpo_init == "sft", name="grpo-from-sft"):
        tuned = sft_component(
            base_model=prepared.outputs["model"],
            train_split=data_task.outputs["sft_split"],
            config=sft,
            run_id=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        )
        configure(tuned, cluster)
        _train_tail(tuned.outputs["model"], data_task, base_eval, params, "sft", cluster)
    with dsl.Elif(grpo_init == "base", name="grpo-from-base"):
        _train_tail(prepared.outputs["model"], data_task, base_eval, params, "base", cluster)
