"""Compile the pipelines to KFP IR YAML."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from vlaa.pipelines import sft_vs_rl, vlaa_thinker

PIPELINES = {
    vlaa_thinker.PIPELINE_NAME: vlaa_thinker.vlaa_thinker,
    sft_vs_rl.PIPELINE_NAME: sft_vs_rl.vlaa_sft_vs_rl,
}


def compile_pipeline(name: str, output: Path) -> Path:
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(PIPELINES[name], str(output))
    return output
