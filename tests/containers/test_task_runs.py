"""Which KFP task a container runs (vlaa/containers/task_runs.py)."""

from __future__ import annotations

import json

from vlaa.containers.task_runs import task_name


def test_task_name_is_the_folder_of_the_executor_output_file() -> None:
    # The local runner's layout: pipeline_root/<pipeline run>/<task>/executor_output.json
    # (kfp/local/executor_input_utils.py, construct_local_task_root / construct_executor_input).
    executor_input = {
        "inputs": {"parameterValues": {"label": "trained"}},
        "outputs": {
            "outputFile": "/runs/local/artifacts/vlaa-thinker-2026-12-06/evaluate-2/"
            "executor_output.json"
        },
    }
    command = ["sh", "-ec", "program", "--executor_input", json.dumps(executor_input), "--x"]
    assert task_name(command) == "evaluate-2"
    assert task_name(["python", "-c", "pass"]) == "?"
