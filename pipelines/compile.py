"""Compile the pipelines to KFP IR YAML, or to the Pipeline / PipelineVersion resources that
``kubectl apply`` takes (KFP's Kubernetes-native pipeline store)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler
from kfp.compiler import compiler_utils

from vlaa.pipelines import sft_vs_rl, vlaa_thinker
from vlaa.pipelines.names import pipeline_name

PIPELINES = {
    vlaa_thinker.PIPELINE_NAME: vlaa_thinker.vlaa_thinker,
    sft_vs_rl.PIPELINE_NAME: sft_vs_rl.vlaa_sft_vs_rl,
}


def compile_pipeline(
    name: str,
    output: Path,
    kubernetes_manifest: bool = False,
    namespace: str | None = None,
    version: str | None = None,
) -> Path:
    """Write pipeline ``name`` to ``output``: IR YAML, or with ``kubernetes_manifest`` the
    ``Pipeline`` and ``PipelineVersion`` resources (in ``namespace``; the version resource is
    named ``<name>-<version>`` when ``version`` is given)."""
    name = pipeline_name(name)  # short names too, as `vlaa run` takes them
    output.parent.mkdir(parents=True, exist_ok=True)
    options = None
    if kubernetes_manifest:
        options = compiler_utils.KubernetesManifestOptions(
            pipeline_name=name,
            pipeline_version_name=f"{name}-{version}" if version else None,
            namespace=namespace,
            include_pipeline_manifest=True,
        )
    compiler.Compiler().compile(
        PIPELINES[name],
        str(output),
        kubernetes_manifest_format=kubernetes_manifest,
        kubernetes_manifest_options=options,
    )
    return output
