"""Debian's ``prometheus`` and ``prometheus-pushgateway`` on loopback, for integration tests.

Fixtures: ``prometheus_binaries`` (session; installs the Debian packages when missing and fails,
never skips, when that is impossible), ``pushgateway``, ``auth_pushgateway`` (HTTP basic auth
through the gateway's ``--web.config.file``) and ``prometheus`` (per test, because a test may
kill the gateway; Prometheus scrapes that test's gateway every second). ``silent_listener`` is a
loopback port that accepts TCP connections and never answers: a network fault, not a server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from support.processes import stop_process

PACKAGES: tuple[str, ...] = ("prometheus", "prometheus-pushgateway")
BINARIES: tuple[str, ...] = ("prometheus", "prometheus-pushgateway")
READY_TIMEOUT_SECONDS = 30.0
START_ATTEMPTS = 3  # a free port can be taken between picking it and the server binding it


@dataclass(frozen=True)
class BasicAuthUser:
    """A user of a gateway's ``basic_auth_users``: name, password and the password's bcrypt."""

    name: str
    password: str
    bcrypt_hash: str


# bcrypt (cost 4, the minimum, so checks are fast) of "s3cret", made with Python 3.11's
# crypt.crypt("s3cret", "$2b$04$" + 22 salt characters); the auth test proves the gateway
# accepts it (a push with it succeeds, one without it is refused).
GATEWAY_USER = BasicAuthUser(
    "alice", "s3cret", "$2b$04$vlaaintegrationtestsaex3yn30EumfxynYtn/d1DuVsqGUEamKG"
)


def _missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, env=env, timeout=900, check=False
    )


def ensure_binaries() -> None:
    """Install the Debian packages if a binary is missing; ``pytest.fail`` if that fails."""
    if not _missing_binaries():
        return
    install = ("install", "-y", "--no-install-recommends", *PACKAGES)
    try:
        result = _apt(*install)
        if result.returncode != 0:
            # A fresh image may have no package lists yet.
            _apt("update")
            result = _apt(*install)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(
            f"cannot install {' '.join(PACKAGES)} with apt-get ({error}); the Prometheus "
            "integration tests need them (CI runs as root on Debian)",
            pytrace=False,
        )
    missing = _missing_binaries()
    if result.returncode != 0 or missing:
        tail = (result.stdout + result.stderr)[-2000:]
        pytest.fail(
            f"apt-get install {' '.join(PACKAGES)} failed (exit {result.returncode}); still "
            f"missing: {missing or 'none'}. The Prometheus integration tests need them "
            f"(CI runs as root on Debian with the mirror reachable). apt output:\n{tail}",
            pytrace=False,
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A started server: its process, loopback port and log file."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    auth: tuple[str, str] | None = field(default=None, repr=False)  # for our own requests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self) -> None:
        """Terminate (then kill) the process; idempotent."""
        stop_process(self.process)


def _start(
    name: str,
    work_dir: Path,
    command: Callable[[int], list[str]],
    port: int | None = None,
    auth: tuple[str, str] | None = None,
) -> ServerProcess:
    """Start ``command(port)`` on ``port`` (None: a free one, retried if taken meanwhile) and
    wait for ``/-/ready`` (asked with ``auth``); fail with its log."""
    work_dir.mkdir(parents=True, exist_ok=True)
    server: ServerProcess | None = None
    for attempt in range(START_ATTEMPTS if port is None else 1):
        chosen = free_port() if port is None else port
        log_path = work_dir / f"{name}-{attempt}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command(chosen), stdout=log_file, stderr=subprocess.STDOUT, cwd=work_dir
            )
        server = ServerProcess(name, process, chosen, log_path, auth)
        if _wait_ready(server):
            return server
        server.stop()
        if "address already in use" not in server.log_tail().lower():
            break
    assert server is not None
    pytest.fail(
        f"{name} did not become ready on 127.0.0.1:{server.port} within "
        f"{READY_TIMEOUT_SECONDS:.0f} s (exit code {server.process.poll()}); log:\n"
        f"{server.log_tail()}",
        pytrace=False,
    )


def _wait_ready(server: ServerProcess) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with contextlib.suppress(requests.RequestException):
            ready = requests.get(f"{server.url}/-/ready", timeout=1, auth=server.auth)
            if ready.status_code == 200:
                return True
        time.sleep(0.1)
    return False


def start_pushgateway(
    work_dir: Path, port: int | None = None, user: BasicAuthUser | None = None
) -> ServerProcess:
    """A Pushgateway on loopback (on ``port``, None: a free one), metrics in memory only
    (Debian's default persists to /var); with ``user``, every request needs their basic auth."""
    options = ["--persistence.file=", "--log.level=warn"]
    auth = None
    if user is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        web_config = work_dir / "web-config.yml"
        web_config.write_text(f"basic_auth_users:\n  {user.name}: '{user.bcrypt_hash}'\n")
        options.append(f"--web.config.file={web_config}")
        auth = (user.name, user.password)
    return _start(
        "pushgateway",
        work_dir,
        lambda chosen: [
            "prometheus-pushgateway",
            f"--web.listen-address=127.0.0.1:{chosen}",
            *options,
        ],
        port=port,
        auth=auth,
    )


def pushed_groups(gateway: ServerProcess) -> list[dict[str, Any]]:
    """The groups the Pushgateway holds, from its ``GET /api/v1/metrics``."""
    response = requests.get(f"{gateway.url}/api/v1/metrics", timeout=5, auth=gateway.auth)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"])


def pushed_value(group: dict[str, Any], name: str, **labels: str) -> float:
    """The value of the one series ``name`` of a pushed group whose labels include ``labels``."""
    assert name in group, f"{name} was not pushed; the group has {sorted(group)}"
    matching = [
        series
        for series in group[name]["metrics"]
        if all(series["labels"].get(key) == value for key, value in labels.items())
    ]
    assert len(matching) == 1, f"{name}{labels}: {group[name]['metrics']}"
    return float(matching[0]["value"])


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A loopback port whose listening socket completes TCP handshakes (the kernel's backlog)
    but never accepts or answers: a peer that hangs. Yields the port; closed on exit."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def prometheus_config(targets: list[str], scrape_interval: str = "1s") -> str:
    """A config scraping ``targets`` (host:port) as job ``pushgateway``, keeping pushed labels."""
    quoted = ", ".join(f"'{target}'" for target in targets)
    return (
        "global:\n"
        f"  scrape_interval: {scrape_interval}\n"
        f"  evaluation_interval: {scrape_interval}\n"
        "scrape_configs:\n"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        f"    static_configs:\n      - targets: [{quoted}]\n"
    )


def start_prometheus(work_dir: Path, targets: list[str]) -> ServerProcess:
    """Prometheus on loopback with a temporary config and TSDB under ``work_dir``."""
    config = work_dir / "prometheus.yml"
    work_dir.mkdir(parents=True, exist_ok=True)
    config.write_text(prometheus_config(targets))
    return _start(
        "prometheus",
        work_dir,
        lambda port: [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={work_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )


def query(prometheus: ServerProcess, promql: str) -> list[dict[str, Any]]:
    """The result vector of an instant PromQL query."""
    response = requests.get(f"{prometheus.url}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def wait_for_sample(
    prometheus: ServerProcess,
    promql: str,
    accept: Callable[[float], bool] = lambda value: True,
    timeout: float = 20.0,
) -> tuple[dict[str, str], float]:
    """Poll ``promql`` until one series has a value ``accept`` takes; its labels and value."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = query(prometheus, promql)
        for series in seen:
            value = float(series["value"][1])
            if accept(value):
                return dict(series["metric"]), value
        time.sleep(0.25)
    raise AssertionError(f"no accepted sample for {promql} within {timeout:.0f} s; last: {seen}")


@pytest.fixture(scope="session")
def prometheus_binaries() -> None:
    """Ensure Debian's Prometheus binaries exist (installing them if needed)."""
    ensure_binaries()


@pytest.fixture
def pushgateway(prometheus_binaries: None, tmp_path: Path) -> Iterator[ServerProcess]:
    """A Pushgateway of this test on a free loopback port; killed at teardown."""
    server = start_pushgateway(tmp_path / "pushgateway")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def auth_pushgateway(prometheus_binaries: None, tmp_path: Path) -> Iterator[ServerProcess]:
    """A Pushgateway of this test that requires ``GATEWAY_USER``'s basic auth."""
    server = start_pushgateway(tmp_path / "auth-pushgateway", user=GATEWAY_USER)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus(pushgateway: ServerProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    """Prometheus scraping this test's Pushgateway every second; killed at teardown."""
    server = start_prometheus(tmp_path / "prometheus", [f"127.0.0.1:{pushgateway.port}"])
    try:
        yield server
    finally:
        server.stop()
