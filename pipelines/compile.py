"""Compile the pipelines to KFP IR YAML."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from vlaa.pipelines.vlaa_thinker import PIPELINE_NAME, vlaa_thinker

PIPELINES = {PIPELINE_NAME: vlaa_thinker}


def compile_pipeline(name: str, output: Path) -> Path:
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(PIPELINES[name], str(output))
    return output
