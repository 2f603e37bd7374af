"""Find a container engine that speaks the Docker API, starting podman's service on demand.

KFP's ``DockerRunner`` talks to the engine through docker-py's ``docker.from_env()``
(kfp/local/docker_task_handler.py), i.e. ``DOCKER_HOST`` or Docker's default socket. podman
serves the same API with ``podman system service`` on a unix socket; this module finds one
that answers, in this order: ``DOCKER_HOST``, Docker's ``/var/run/docker.sock``, podman's
socket (root: ``/run/podman/podman.sock``; otherwise ``$XDG_RUNTIME_DIR/podman/podman.sock``),
and else starts podman's service on that socket for the length of the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlaa.errors import UserError

DOCKER_SOCKET = Path("/var/run/docker.sock")
START_TIMEOUT_S = 60.0


class NoContainerEngine(UserError):
    """No Docker daemon or podman answers, and none can be started."""


@dataclass
class Engine:
    """A connected engine: ``client`` is a ``docker.DockerClient``; ``base_url`` goes into
    ``DOCKER_HOST`` for KFP's runner."""

    base_url: str
    name: str
    version: str
    client: Any
    started: subprocess.Popen[bytes] | None = None


def podman_socket() -> Path:
    """Where podman's API service listens by default for this user."""
    if os.geteuid() == 0:
        return Path("/run/podman/podman.sock")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return Path(runtime) / "podman" / "podman.sock"


def _connect(base_url: str) -> tuple[Any, str, str]:
    """A client for ``base_url`` whose ping succeeded, with the engine's name and version;
    raises the docker-py error when it does not answer."""
    import docker

    client = docker.DockerClient(base_url=base_url, timeout=600)
    try:
        client.ping()
        version = client.version()
    except Exception:
        client.close()
        raise
    # podman's compat API names itself in Components (podman's pkg/api/handlers/compat).
    components = [c.get("Name", "") for c in version.get("Components") or []]
    name = "podman" if any("podman" in c.lower() for c in components) else "docker"
    return client, name, str(version.get("Version", "?"))


def _answers(base_url: str) -> Engine | None:
    try:
        client, name, version = _connect(base_url)
    except Exception:
        return None
    return Engine(base_url, name, version, client)


def _start_podman(socket: Path, log_path: Path) -> Engine:
    podman = shutil.which("podman")
    assert podman is not None
    socket.parent.mkdir(parents=True, exist_ok=True)
    base_url = f"unix://{socket}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        # --time=0: no idle timeout; the process is stopped when the run ends.
        process = subprocess.Popen(
            [podman, "system", "service", "--time=0", base_url],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise NoContainerEngine(
                f"podman system service exited with code {process.returncode}"
                + (f": {tail[0]}" if tail else "")
                + f" (log: {log_path})"
            )
        engine = _answers(base_url) if socket.exists() else None
        if engine is not None:
            engine.started = process
            return engine
        time.sleep(0.2)
    process.terminate()
    raise NoContainerEngine(
        f"podman system service did not answer on {socket} within {START_TIMEOUT_S:.0f} s "
        f"(log: {log_path})"
    )


def find_engine(log_dir: Path) -> Engine:
    """The first engine that answers (see the module's docstring); podman's service is started
    when podman is installed but not serving. Its log goes to ``log_dir/podman-service.log``."""
    docker_host = os.environ.get("DOCKER_HOST", "").strip()
    if docker_host:
        try:
            client, name, version = _connect(docker_host)
        except Exception as error:
            raise NoContainerEngine(
                f"DOCKER_HOST={docker_host} does not answer: {type(error).__name__}: {error}"
            ) from None
        return Engine(docker_host, name, version, client)
    if DOCKER_SOCKET.exists():
        engine = _answers(f"unix://{DOCKER_SOCKET}")
        if engine is not None:
            return engine
    socket = podman_socket()
    if socket.exists():
        engine = _answers(f"unix://{socket}")
        if engine is not None:
            return engine
    if shutil.which("podman"):
        return _start_podman(socket, log_dir / "podman-service.log")
    raise NoContainerEngine(
        "no container engine: Docker does not answer on /var/run/docker.sock (or DOCKER_HOST) "
        "and podman is not installed; install one (docs/containers.md) or run without "
        "--runner container"
    )


def stop_engine(engine: Engine) -> None:
    """Close the client; stop podman's service if this run started it."""
    engine.client.close()
    if engine.started is not None and engine.started.poll() is None:
        engine.started.terminate()
        try:
            engine.started.wait(timeout=15)
        except subprocess.TimeoutExpired:
            engine.started.kill()


@contextlib.contextmanager
def engine_session(log_dir: Path) -> Iterator[Engine]:
    """An engine for the length of the block, with ``DOCKER_HOST`` set to it so KFP's runner
    (``docker.from_env()``) reaches the same one."""
    engine = find_engine(log_dir)
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = engine.base_url
    try:
        yield engine
    finally:
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous
        stop_engine(engine)
