"""KFP wrapper of the evaluate step."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from vlaa.images import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def evaluate(
    model: Input[Model],
    eval_split: Input[Dataset],
    config: dict,
    label: str,
    metrics: Output[Metrics],
    report: Output[Artifact],
    report_markdown: Output[Markdown],
    report_html: Output[HTML],
    base_report: Input[Artifact] = None,
    run_id: str = "",
) -> None:
    """Greedy generation on the eval split and the configured benchmarks (the paper's protocol);
    metrics, a JSON report and a Markdown / HTML report against the base model and the paper.
    ``base_report`` is the base model's JSON report, when there is one to compare with;
    ``run_id`` labels the scores pushed to the Pushgateway (when one is configured)."""
    from vlaa.components.evaluate.runtime import run

    run(locals())
