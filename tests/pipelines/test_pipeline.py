"""The vlaa-thinker pipeline: compiled IR, and the whole DAG on KFP's local runner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.configs import tiny_run_parameters
from support.published_model import assert_published_model_generates

from vlaa.parameters import validate_parameters
from vlaa.pipelines.compile import compile_pipeline
from vlaa.pipelines.kubernetes import CLUSTER_PARAMETERS
from vlaa.stages import EVENTS_ENV

COMPONENTS = ("prepare", "build-dataset", "sft", "grpo", "evaluate", "publish")
ROOT_PARAMETERS = (
    "base_model",
    "grpo_init",
    "data",
    "sft",
    "grpo",
    "evaluate",
    "publish",
)
MODEL_NAME = "vlaa-thinker-e2e"
STAGES_SFT_ARM = (
    "prepare",
    "build_dataset",
    "evaluate-base",
    "sft",
    "grpo-from-sft",
    "evaluate-trained",
    "publish",
)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = compile_pipeline("vlaa-thinker", tmp_path_factory.mktemp("compiled") / "p.yaml")
    return next(yaml.safe_load_all(path.read_text()))  # then the platform spec


def _all_tasks(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every task of the root DAG and of the sub-DAGs (condition branches)."""
    dags = [spec["root"]["dag"]]
    dags += [c["dag"] for c in spec["components"].values() if "dag" in c]
    return [task for dag in dags for task in dag["tasks"].values()]


# ----------------------------------------------------------------------------- compiled IR


def test_compiled_pipeline_defines_every_component(compiled: dict[str, Any]) -> None:
    assert compiled["pipelineInfo"]["name"] == "vlaa-thinker"
    for name in COMPONENTS:
        assert f"comp-{name}" in compiled["components"], name
        executor = compiled["components"][f"comp-{name}"]["executorLabel"]
        assert executor in compiled["deploymentSpec"]["executors"]


def test_compiled_pipeline_has_the_grouped_run_parameters(compiled: dict[str, Any]) -> None:
    parameters = compiled["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == {*ROOT_PARAMETERS, *CLUSTER_PARAMETERS}
    assert parameters["base_model"]["parameterType"] == "STRING"
    assert parameters["grpo_init"]["defaultValue"] == "sft"
    for group in ("data", "sft", "grpo", "evaluate", "publish"):
        assert parameters[group]["parameterType"] == "STRUCT"


def test_compiled_pipeline_branches_on_grpo_init(compiled: dict[str, Any]) -> None:
    conditions = {
        task["taskInfo"]["name"]: task["triggerPolicy"]["condition"]
        for task in _all_tasks(compiled)
        if "condition" in task.get("triggerPolicy", {})
    }
    assert conditions["grpo-from-sft"].endswith("== 'sft'")
    assert conditions["grpo-from-base"].endswith("== 'base'")
    # SFT runs only in the SFT arm.
    sft_tasks = [t for t in _all_tasks(compiled) if t["componentRef"]["name"] == "comp-sft"]
    assert len(sft_tasks) == 1


def test_compiled_pipeline_passes_models_and_splits_as_artifacts(
    compiled: dict[str, Any],
) -> None:
    components = compiled["components"]

    def artifact_type(component: str, kind: str, name: str) -> str:
        definitions = components[f"comp-{component}"][kind]["artifacts"]
        return definitions[name]["artifactType"]["schemaTitle"]

    assert artifact_type("prepare", "outputDefinitions", "model") == "system.Model"
    assert artifact_type("build-dataset", "outputDefinitions", "rl_split") == "system.Dataset"
    assert artifact_type("sft", "inputDefinitions", "train_split") == "system.Dataset"
    assert artifact_type("sft", "outputDefinitions", "model") == "system.Model"
    assert artifact_type("grpo", "outputDefinitions", "model") == "system.Model"
    assert artifact_type("evaluate", "outputDefinitions", "metrics") == "system.Metrics"


def test_training_steps_run_in_the_trainer_image(compiled: dict[str, Any]) -> None:
    executors = compiled["deploymentSpec"]["executors"]
    for name in ("sft", "grpo", "evaluate"):
        assert "vlaa-trainer" in executors[f"exec-{name}"]["container"]["image"]
    for name in ("prepare", "build-dataset", "publish"):
        assert "vlaa-tools" in executors[f"exec-{name}"]["container"]["image"]


def test_compile_refuses_an_unknown_pipeline(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown pipeline"):
        compile_pipeline("no-such-pipeline", tmp_path / "x.yaml")


# ----------------------------------------------------------------------------- local end to end


def _tiny_parameters(grpo_init: str, store: Path) -> dict[str, Any]:
    publish = {"store_uri": str(store), "model_name": MODEL_NAME}
    return {**tiny_run_parameters(), "grpo_init": grpo_init, "publish": publish}


def _run(grpo_init: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from vlaa.pipelines.local_run import RUN_FILE, run_local

    monkeypatch.delenv(EVENTS_ENV, raising=False)  # run_local sets it; restored afterwards
    params = validate_parameters(_tiny_parameters(grpo_init, tmp_path / "registry"))
    summary = run_local(params, tmp_path / "run")
    assert json.loads((tmp_path / "run" / RUN_FILE).read_text()) == json.loads(
        json.dumps(summary, default=str)
    )
    return summary


def _assert_arm_succeeded(summary: dict[str, Any], arm: str, stages: Sequence[str]) -> None:
    """The run succeeded on arm ``arm``, and exactly ``stages`` ran, each successfully."""
    assert summary["status"] == "succeeded"
    assert summary["arm"] == f"grpo-from-{arm}"
    statuses = {stage["name"]: stage["status"] for stage in summary["stages"]}
    assert statuses == dict.fromkeys(stages, "succeeded")


@pytest.mark.slow
def test_local_run_grpo_from_sft_publishes_a_working_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = _run("sft", tmp_path, monkeypatch)

    _assert_arm_succeeded(summary, "sft", STAGES_SFT_ARM)
    metrics = summary["metrics"]
    for key in ("accuracy_before", "accuracy_after", "reward_first", "reward_last"):
        assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 1.0, key
    assert metrics["published_version"] == "v0001"

    version_dir = tmp_path / "registry" / MODEL_NAME / "versions" / "v0001"
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["lineage"]["arm"] == "grpo-from-sft"
    # prepare's base-model lineage rides the model artifacts (sft, grpo) into the manifest.
    assert manifest["lineage"]["base_model"] == "tiny"
    assert manifest["lineage"]["base_model_source"]["kind"] == "tiny"
    assert manifest["lineage"]["dataset_hash"]
    card = (version_dir / "README.md").read_text()
    assert "### 1. SFT" in card and "### 2. GRPO" in card  # both stages' settings
    assert "| base model | tiny |" in card
    published = {entry["path"] for entry in manifest["files"]}
    assert "config.json" in published and "README.md" in published
    assert any(path.endswith(".safetensors") for path in published)
    assert (tmp_path / "registry" / MODEL_NAME / "aliases" / "latest.json").is_file()
    assert_published_model_generates(version_dir)


@pytest.mark.slow
def test_local_run_grpo_from_base_skips_sft(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = _run("base", tmp_path, monkeypatch)

    expected = [name.replace("from-sft", "from-base") for name in STAGES_SFT_ARM if name != "sft"]
    _assert_arm_succeeded(summary, "base", expected)
    version_dir = tmp_path / "registry" / MODEL_NAME / "versions" / "v0001"
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["lineage"]["arm"] == "grpo-from-base"
    assert manifest["lineage"]["base_model_source"]["seed"] == 0
