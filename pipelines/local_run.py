"""Run ``vlaa-thinker`` on this machine through KFP's local SubprocessRunner."""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

from kfp import local

from vlaa.parameters import RunParameters
from vlaa.pipelines.vlaa_thinker import vlaa_thinker
from vlaa.stages import EVENTS_ENV, read_events

RUN_FILE = "run.json"


class PipelineFailed(RuntimeError):
    """The local run failed; the message names the stage and its error."""


def kfp_arguments(params: RunParameters) -> dict[str, Any]:
    """Map validated run parameters onto the pipeline function's arguments."""
    return {
        "base_model": params.base_model,
        "grpo_init": params.grpo_init,
        "data": params.data,
        "sft_config": params.sft,
        "grpo_config": params.grpo,
        "evaluate_config": params.evaluate,
        "publish_config": params.publish,
    }


def run_local(params: RunParameters, output_dir: Path) -> dict[str, Any]:
    """Run the whole DAG; write ``run.json`` in ``output_dir`` and return its content."""
    output_dir = output_dir.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    events_path = output_dir / "events.jsonl"
    events_path.unlink(missing_ok=True)
    previous_events = os.environ.get(EVENTS_ENV)
    os.environ[EVENTS_ENV] = str(events_path)  # task subprocesses inherit it
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(output_dir / "artifacts"),
        raise_on_error=True,
    )
    started = time.time()
    error: str | None = None
    # The component images are not used by the subprocess runner; its warning about them is noise.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        try:
            vlaa_thinker(**kfp_arguments(params))
        except RuntimeError as failure:
            error = str(failure)
        finally:
            if previous_events is None:
                os.environ.pop(EVENTS_ENV, None)
            else:
                os.environ[EVENTS_ENV] = previous_events
    summary = summarise(read_events(events_path), time.time() - started, params)
    summary["status"] = "failed" if error else "succeeded"
    (output_dir / RUN_FILE).write_text(json.dumps(summary, indent=2, default=str))
    if error:
        failed = [s for s in summary["stages"] if s["status"] == "failed"]
        detail = f"stage {failed[0]['name']}: {failed[0]['error']}" if failed else error
        raise PipelineFailed(detail)
    return summary


def summarise(
    events: list[dict[str, Any]], seconds: float, params: RunParameters
) -> dict[str, Any]:
    """Stages (status, seconds), headline metrics and artifact locations from stage events."""
    stages: dict[str, dict[str, Any]] = {}
    for event in events:
        row = stages.setdefault(event["stage"], {"name": event["stage"]})
        row["status"] = event["status"]
        for key in ("seconds", "wall_seconds", "error", "metrics", "artifacts"):
            if key in event:
                row[key] = event[key]

    def metric(stage: str, key: str) -> Any:
        return stages.get(stage, {}).get("metrics", {}).get(key)

    return {
        "pipeline": "vlaa-thinker",
        "arm": f"grpo-from-{params.grpo_init}",
        "seconds": round(seconds, 1),
        "stages": list(stages.values()),
        "metrics": {
            "accuracy_before": metric("evaluate-base", "accuracy"),
            "accuracy_after": metric("evaluate-trained", "accuracy"),
            "reward_first": metric("grpo", "reward_first"),
            "reward_last": metric("grpo", "reward_last"),
            "published_version": metric("publish", "version"),
        },
        "artifacts": {
            f"{name}.{key}": path
            for name, row in stages.items()
            for key, path in row.get("artifacts", {}).items()
        },
        "parameters": params.model_dump(),
    }
