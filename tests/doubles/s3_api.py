"""moto's real S3 server on loopback, speaking S3 to the ``minio`` client as MinIO would.

``MotoS3`` runs ``moto.server`` in a thread on a fixed free port; it can be stopped and
started again on that port, and since moto keeps its state in this process, a restarted server
still holds what was written before it died. Conditional writes are made atomic here (see
``AtomicConditions``), as S3 and MinIO make them. ``s3_env`` points the store's environment
variables (``vlaa.storage.s3.S3Settings.from_env``) at it with the double's credentials.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import boto3
import pytest
from moto.server import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    ThreadedMotoServer,
    create_backend_app,
)
from werkzeug.serving import make_server

REGION = "us-east-1"
KEY_ID, SECRET = "AKIATESTPUBLISHER", "test-secret-never-printed"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AtomicConditions:
    """WSGI middleware: one lock around every request carrying If-None-Match / If-Match.

    moto 5.2 checks the condition and then writes without a lock (``S3Response.put_object`` in
    moto/s3/responses.py: ``if if_none_match == "*" and self.backend.get_object(...)``, then
    ``self.backend.put_object``), so two racing conditional puts on its threaded server can
    both pass. S3 and MinIO evaluate the condition atomically with the write; the lock gives
    moto that guarantee, and nothing more: plain writes are not serialised.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ:
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


class _PromptServer(ThreadedMotoServer):
    """moto's threaded server, but ``stop()`` takes effect within ~10 ms (not 0.5 s)."""

    def _server_entry(self) -> None:
        app = AtomicConditions(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.01)


class MotoS3:
    """A moto S3 server on a fixed loopback port that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: _PromptServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = _PromptServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self, service: str = "s3") -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    def new_bucket(self) -> str:
        name = f"models-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, **extra: str) -> None:
    """Point the store's environment at ``endpoint`` with the double's credentials."""
    for name in ("AWS_ENDPOINT_URL", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "VLAA_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": REGION,
        "VLAA_S3_PART_SIZE_MB": "5",
        "VLAA_S3_MAX_ATTEMPTS": "2",
        "VLAA_S3_BACKOFF_S": "0.05",
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
