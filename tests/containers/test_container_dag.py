"""The whole default DAG in the images built from this checkout, and the runner's errors:
no engine (tests/containers/test_engine.py), a missing image, a stale image, a task failing
inside its container."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fixtures.configs import tiny_run_parameters
from support.container_images import ROOT, build_images, needs_engine
from support.published_model import assert_published_model_generates

from vlaa.containers import local_images
from vlaa.containers.engine import engine_session
from vlaa.containers.local_images import StaleImage, check_images
from vlaa.containers.task_runs import recording_task_runs
from vlaa.images import TOOLS_IMAGE, TRAINER_IMAGE

pytestmark = needs_engine
VLAA = str(Path(sys.executable).parent / "vlaa")


def _vlaa_run(output: Path, *extra: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [VLAA, "run", "--local", "--runner", "container", "--output", str(output), *extra],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=1800,
        check=False,
    )


def test_missing_image_is_one_line_naming_it(tmp_path: Path) -> None:
    result = _vlaa_run(tmp_path / "run", env={"VLAA_IMAGE_TAG": "never-built"})
    assert result.returncode == 1
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert "image ghcr.io/vlaa-thinker/vlaa-" in errors[0] and ":never-built" in errors[0]
    assert "is not on this machine" in errors[0] and "make images" in errors[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    build_images(tmp_path_factory.mktemp("images") / "make-images.log")
    yield


@pytest.mark.slow
def test_unchanged_inputs_reuse_the_images(images: None, tmp_path: Path) -> None:
    log = tmp_path / "again.log"
    build_images(log)
    text = log.read_text()
    for image in (TOOLS_IMAGE, TRAINER_IMAGE):
        assert f"up to date: {image} (inputs " in text, text[-2000:]
    assert "building " not in text


def _installed_sources(image: str) -> dict[str, str]:
    """SHA-256 of every .py file of the vlaa package inside ``image``."""
    script = (
        "import hashlib, json, pathlib, vlaa; root = pathlib.Path(vlaa.__file__).parent; "
        "print(json.dumps({p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes())"
        ".hexdigest() for p in root.rglob('*.py')}))"
    )
    result = subprocess.run(
        [shutil.which("podman") or "docker", "run", "--rm", image, "python", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(result.stdout)


def _checkout_sources() -> dict[str, str]:
    """The same, from the checkout (components/ and pipelines/ install as vlaa.components and
    vlaa.pipelines: pyproject's package-dir)."""
    trees = {"vlaa": "", "components": "components/", "pipelines": "pipelines/"}
    return {
        prefix + path.relative_to(ROOT / tree).as_posix(): hashlib.sha256(
            path.read_bytes()
        ).hexdigest()
        for tree, prefix in trees.items()
        for path in (ROOT / tree).rglob("*.py")
    }


@pytest.mark.slow
@pytest.mark.parametrize("image", [TOOLS_IMAGE, TRAINER_IMAGE])
def test_images_hold_this_checkouts_code(images: None, image: str) -> None:
    """Not only the label: the installed files (podman once reused a layer of old code)."""
    assert _installed_sources(image) == _checkout_sources()


@pytest.mark.slow
def test_whole_default_dag_runs_in_the_images(images: None, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_run_parameters()))
    result = _vlaa_run(tmp_path / "run", "--params", str(params))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "succeeded" and run["runner"] == "container"
    tasks = {task["task"]: task for task in run["tasks"]}
    assert set(tasks) == {
        "prepare",
        "build-dataset",
        "evaluate",
        "sft",
        "grpo",
        "evaluate-2",
        "publish",
    }
    trainer_tasks = {"evaluate", "sft", "grpo", "evaluate-2"}
    podman = shutil.which("podman") or "docker"
    for name, task in tasks.items():
        expected = TRAINER_IMAGE if name in trainer_tasks else TOOLS_IMAGE
        assert task["image"] == expected and task["exit_code"] == 0
        image_id = subprocess.run(
            [podman, "image", "inspect", "--format", "{{.Id}}", expected],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert task["image_id"].removeprefix("sha256:") == image_id.removeprefix("sha256:")
    version = run["metrics"]["published_version"]
    version_dir = tmp_path / "run" / "registry" / "vlaa-thinker-tiny" / "versions" / version
    assert (version_dir / "manifest.json").is_file()
    assert_published_model_generates(version_dir)


@pytest.mark.slow
def test_task_failing_inside_its_container_is_reported(images: None, tmp_path: Path) -> None:
    """Exits at once: KFP's own runner, finding the auto-removed container gone at ``wait``,
    would report success (kfp/local/docker_task_handler.py, run_docker_container)."""
    from kfp import local
    from kfp.local import docker_task_handler, status

    command = ["python", "-c", "import sys; print('bad input: no such split'); sys.exit(3)"]
    with engine_session(tmp_path) as engine, recording_task_runs(engine.name) as log:
        handler = docker_task_handler.DockerTaskHandler(
            image=TOOLS_IMAGE,
            full_command=command,
            pipeline_root=str(tmp_path),
            runner=local.DockerRunner(),
        )
        assert handler.run() == status.Status.FAILURE
    failed = log.failed()
    assert failed is not None and failed.exit_code == 3
    message = failed.failure()
    assert message == (
        f"task ? failed inside its container (image {TOOLS_IMAGE}, exit code 3): "
        "bad input: no such split"
    )


@pytest.mark.slow
def test_image_built_from_other_sources_is_refused(
    images: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = tmp_path / "checkout"
    for tree in ("vlaa", "components", "pipelines"):
        shutil.copytree(ROOT / tree, changed / tree, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, changed / name)
    (changed / "vlaa" / "prompts.py").write_text("# edited after the build\n")
    monkeypatch.setattr(local_images, "checkout_root", lambda: changed)
    with engine_session(tmp_path) as engine:
        check_images(engine.client, [TOOLS_IMAGE], engine.name, allow_stale=True)
        with pytest.raises(StaleImage, match=r"built from other sources .*make images"):
            check_images(engine.client, [TOOLS_IMAGE], engine.name)


@pytest.mark.slow
def test_study_runs_in_the_images(images: None, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_run_parameters()))
    result = _vlaa_run(tmp_path / "run", "--pipeline", "sft-vs-rl", "--params", str(params))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "succeeded" and run["runner"] == "container"
    images_by_task = {task["task"]: task["image"] for task in run["tasks"]}
    assert images_by_task["compare"] == TOOLS_IMAGE
    assert sum(image == TRAINER_IMAGE for image in images_by_task.values()) == 7  # 4 eval, 3 train
    report = Path(run["artifacts"]["compare.report"]).read_text()
    for title in ("base model", "SFT only", "GRPO only", "SFT, then GRPO"):
        assert f"| {title} |" in report
