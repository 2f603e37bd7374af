"""Finding a container engine (vlaa/containers/engine.py): errors, and podman's service."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vlaa.containers import engine as engine_module
from vlaa.containers.engine import NoContainerEngine, engine_session, find_engine

needs_podman = pytest.mark.skipif(
    shutil.which("podman") is None, reason="podman not installed (.ci/run installs it)"
)


@pytest.fixture
def no_default_sockets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No DOCKER_HOST, no Docker socket, podman's socket in a fresh folder."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(engine_module, "DOCKER_SOCKET", tmp_path / "docker.sock")
    socket = tmp_path / "podman" / "podman.sock"
    monkeypatch.setattr(engine_module, "podman_socket", lambda: socket)
    return socket


def test_no_engine_is_one_line_naming_both(
    no_default_sockets: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no podman to start
    with pytest.raises(NoContainerEngine) as raised:
        find_engine(tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert "no container engine" in message and "Docker" in message and "podman" in message
    assert "--runner container" in message


def test_docker_host_that_does_not_answer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(NoContainerEngine, match=r"DOCKER_HOST=unix://.*nothing.sock does not"):
        find_engine(tmp_path)


@needs_podman
def test_podman_service_started_on_demand_and_stopped(
    no_default_sockets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine_session(tmp_path / "logs") as engine:
        assert engine.name == "podman" and engine.started is not None
        assert engine.base_url == f"unix://{no_default_sockets}"
        assert os.environ["DOCKER_HOST"] == engine.base_url  # what KFP's docker.from_env() reads
        assert engine.client.ping()
        process = engine.started
    assert process.poll() is not None  # the service this run started is gone
    assert "DOCKER_HOST" not in os.environ
