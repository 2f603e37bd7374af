"""What a local task's container is given (vlaa/containers/task_env.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vlaa.containers.task_env import container_run_args, task_environment, vlaa_cache_dir


def test_cache_dir_agrees_with_the_tiny_base_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from vlaa.modeling.tiny_base import cache_root

    monkeypatch.delenv("VLAA_CACHE_DIR", raising=False)
    assert cache_root() == vlaa_cache_dir() / "tiny-base"
    monkeypatch.setenv("VLAA_CACHE_DIR", "/srv/cache")
    assert cache_root() == vlaa_cache_dir() / "tiny-base" == Path("/srv/cache/tiny-base")


def test_environment_passes_project_and_credential_variables_only() -> None:
    host = {
        "VLAA_REGISTRY_URI": "s3://models",
        "AWS_ACCESS_KEY_ID": "key",
        "HF_TOKEN": "hf",
        "PATH": "/usr/bin",
        "HOME": "/root",
        "PYTHONPATH": "/src",
    }
    env = task_environment({"VLAA_EVENTS_FILE": "/runs/x/events.jsonl"}, host)
    assert env["VLAA_REGISTRY_URI"] == "s3://models"
    assert env["AWS_ACCESS_KEY_ID"] == "key" and env["HF_TOKEN"] == "hf"
    assert "PATH" not in env and "PYTHONPATH" not in env  # the image's own
    assert env["HOME"] == "/tmp"  # any uid can write there; the images' home is uid 1000's
    assert env["VLAA_CACHE_DIR"] == str(Path("/root/.cache/vlaa"))
    assert env["VLAA_EVENTS_FILE"] == "/runs/x/events.jsonl"
    # The host's default teacher cache, by path: HOME=/tmp inside would move the default.
    assert env["VLAA_TEACHER_CACHE_DIR"].endswith("/vlaa/teacher")
    assert not env["VLAA_TEACHER_CACHE_DIR"].startswith("/tmp/")


def test_run_args_mount_output_and_cache_at_host_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kfp import local

    monkeypatch.setenv("VLAA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VLAA_TEACHER_CACHE_DIR", str(tmp_path / "teacher"))
    args = container_run_args(tmp_path / "run", {"VLAA_EVENTS_FILE": "e"})
    mounts = {m["Target"]: m["Source"] for m in args["mounts"]}
    assert mounts == {
        str((tmp_path / "run").resolve()): str((tmp_path / "run").resolve()),
        str(tmp_path / "cache"): str(tmp_path / "cache"),
        str(tmp_path / "teacher"): str(tmp_path / "teacher"),
    }
    assert args["environment"]["VLAA_TEACHER_CACHE_DIR"] == str(tmp_path / "teacher")
    assert all(m["Type"] == "bind" for m in args["mounts"])
    assert args["user"] == f"{os.getuid()}:{os.getgid()}"
    assert args["network_mode"] == "host"
    # KFP accepts every key (kfp/local/config.py, DockerRunner.DOCKER_CONTAINER_RUN_ARGS).
    local.DockerRunner(**args)
