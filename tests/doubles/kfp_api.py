"""A Kubeflow Pipelines API server (v2beta1) on loopback, for ``kfp.Client`` in tests.

It answers the endpoints ``vlaa submit`` / ``vlaa schedule`` use through ``kfp.Client`` with
JSON shaped like the real server's (snake_case fields, RFC 3339 times, int64 as strings,
gRPC-gateway error bodies), keeps pipelines, versions, experiments, runs and recurring runs in
memory, and records every request (method, path, query, headers, JSON body or multipart parts)
so tests can check exactly what was sent.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API = "/apis/v2beta1"
CREATED_AT = "2025-06-01T03:00:00Z"
NEVER = "1970-01-01T00:00:00Z"  # what the server returns for unset times
# gRPC status codes in error bodies
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None  # parsed JSON, or for multipart {field: {"filename", "content"}}

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Failure:
    method: str
    path: str
    status: int
    message: str


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _new_id() -> str:
    return str(uuid.uuid4())


def _name_filter(query: dict[str, str]) -> str | None:
    """The display name an EQUALS filter asks for (the only filter kfp.Client sends here)."""
    if not query.get("filter"):
        return None
    predicates = json.loads(query["filter"]).get("predicates", [])
    if len(predicates) != 1:
        raise ApiError(400, f"unsupported filter {query['filter']}")
    predicate = predicates[0]
    value = predicate.get("stringValue", predicate.get("string_value"))
    # protojson takes an enum by name or by number (kfp.Client sends 1)
    if predicate.get("operation") not in ("EQUALS", 1) or predicate.get("key") != "display_name":
        raise ApiError(400, f"unsupported filter {query['filter']}")
    return value


def _page(items: list[dict[str, Any]], query: dict[str, str], key: str) -> dict[str, Any]:
    """One page as the server pages: ``next_page_token`` while more remain; empty fields are
    left out (gRPC-gateway drops them)."""
    size = int(query.get("page_size") or 0) or len(items) or 1
    offset = int(query.get("page_token") or 0)
    chunk = items[offset : offset + size]
    response: dict[str, Any] = {"total_size": len(items)} if items else {}
    if chunk:
        response[key] = chunk
    if offset + size < len(items):
        response["next_page_token"] = str(offset + size)
    return response


@dataclass
class KfpApiDouble:
    """State and request log of the fake server; ``serve()`` runs it on loopback."""

    multi_user: bool = False
    # states returned by successive GET /runs/{id}; the last one repeats
    run_states: list[str] = field(default_factory=lambda: ["RUNNING", "SUCCEEDED"])
    requests: list[RecordedRequest] = field(default_factory=list)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _run_reads: dict[str, int] = field(default_factory=dict)

    # --- helpers for tests -------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int, message: str) -> None:
        """Answer the next ``method path`` (path after /apis/v2beta1) with an error."""
        self.failures.append(Failure(method, path, status, message))

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        """Recorded requests to ``method path`` (path after /apis/v2beta1)."""
        return [r for r in self.requests if r.method == method and r.path == API + path]

    def add_pipeline(self, name: str, with_default_version: bool = True) -> str:
        """A pipeline created by someone else (as the UI's upload does: with a first version
        named after the pipeline)."""
        with self._lock:
            pipeline = self._create_pipeline({"display_name": name, "name": name})
        if with_default_version:
            self.add_version(pipeline["pipeline_id"], name, "uploaded in the UI")
        return pipeline["pipeline_id"]

    def add_version(self, pipeline_id: str, name: str, description: str = "") -> str:
        """A version uploaded by someone else; returns its id."""
        with self._lock:
            return self._create_version(pipeline_id, name, "", description)["pipeline_version_id"]

    # --- the API -----------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> dict[str, Any]:
        with self._lock:
            self.requests.append(request)
            route = request.path.removeprefix(API)
            for failure in self.failures:
                if failure.method == request.method and failure.path == route:
                    self.failures.remove(failure)
                    raise ApiError(failure.status, failure.message)
            return self._dispatch(request.method, route, request)

    def _dispatch(self, method: str, route: str, request: RecordedRequest) -> dict[str, Any]:
        parts = route.strip("/").split("/")
        query, body = request.query, request.body
        if (method, route) == ("GET", "/healthz"):
            return {"multi_user": self.multi_user, "pipeline_store": "database"}
        if (method, route) == ("GET", "/pipelines"):
            return self._list_pipelines(query)
        if (method, route) == ("POST", "/pipelines"):
            return self._create_pipeline(body)
        if (method, route) == ("POST", "/pipelines/upload"):
            return self._upload_pipeline(query, body)
        if (method, route) == ("POST", "/pipelines/upload_version"):
            return self._upload_version(query, body)
        if (
            method == "GET"
            and len(parts) == 3
            and parts[0] == "pipelines"
            and parts[2] == "versions"
        ):
            return self._list_versions(parts[1], query)
        if (method, route) == ("GET", "/experiments"):
            return self._list_experiments(query)
        if (method, route) == ("POST", "/experiments"):
            return self._create_experiment(body)
        if (method, route) == ("POST", "/runs"):
            return self._create_run(body)
        if method == "GET" and len(parts) == 2 and parts[0] == "runs":
            return self._get_run(parts[1])
        if (method, route) == ("POST", "/recurringruns"):
            return self._create_recurring_run(body)
        raise ApiError(404, f"Not Found: {method} {request.path}")

    def _list_pipelines(self, query: dict[str, str]) -> dict[str, Any]:
        name = _name_filter(query)
        items = [
            p
            for p in self.pipelines.values()
            if (name is None or p["display_name"] == name)
            and p.get("namespace", "") == query.get("namespace", "")
        ]
        return _page(items, query, "pipelines")

    def _create_pipeline(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("display_name") or body.get("name")
        if not name:
            raise ApiError(400, "Invalid input error: pipeline name is empty")
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise ApiError(409, f"Already exist error: pipeline with name {name} already exists")
        pipeline = {
            "pipeline_id": _new_id(),
            "name": body.get("name") or name,
            "display_name": name,
            "description": body.get("description", ""),
            "created_at": CREATED_AT,
            "namespace": body.get("namespace", ""),
        }
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        self.versions[pipeline["pipeline_id"]] = []
        return pipeline

    def _uploaded_yaml(self, body: Any) -> str:
        upload = body.get("uploadfile") if isinstance(body, dict) else None
        if not upload:
            raise ApiError(400, "Invalid input error: failed to read pipeline from file")
        if not upload["filename"].endswith((".yaml", ".yml", ".zip", ".tar.gz", ".tgz")):
            raise ApiError(400, f"Invalid input error: unexpected file {upload['filename']}")
        return upload["content"]

    def _upload_pipeline(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        content = self._uploaded_yaml(body)
        pipeline = self._create_pipeline(
            {"display_name": query.get("display_name") or query.get("name"), **query}
        )
        self._create_version(pipeline["pipeline_id"], pipeline["display_name"], content, "")
        return pipeline

    def _upload_version(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        content = self._uploaded_yaml(body)
        pipeline_id = query.get("pipelineid", "")
        if pipeline_id not in self.pipelines:
            raise ApiError(404, f"Not found error: pipeline {pipeline_id!r} not found")
        name = query.get("display_name") or query.get("name") or ""
        return self._create_version(pipeline_id, name, content, query.get("description", ""))

    def _create_version(
        self, pipeline_id: str, name: str, content: str, description: str
    ) -> dict[str, Any]:
        if any(v["display_name"] == name for v in self.versions[pipeline_id]):
            raise ApiError(
                409, f"Already exist error: the pipeline version name {name} already exists"
            )
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": _new_id(),
            "name": name,
            "display_name": name,
            "description": description,
            "created_at": CREATED_AT,
            "package_url": {"pipeline_url": ""},
            "pipeline_spec": _first_document(content),
        }
        self.versions[pipeline_id].append(version)
        return version

    def _list_versions(self, pipeline_id: str, query: dict[str, str]) -> dict[str, Any]:
        if pipeline_id not in self.pipelines:
            raise ApiError(404, f"Not found error: pipeline {pipeline_id!r} not found")
        name = _name_filter(query)
        items = [v for v in self.versions[pipeline_id] if name is None or v["display_name"] == name]
        return _page(items, query, "pipeline_versions")

    def _list_experiments(self, query: dict[str, str]) -> dict[str, Any]:
        name = _name_filter(query)
        items = [
            e
            for e in self.experiments.values()
            if (name is None or e["display_name"] == name)
            and e["namespace"] == query.get("namespace", "")
        ]
        return _page(items, query, "experiments")

    def _create_experiment(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.multi_user and not body.get("namespace"):
            raise ApiError(400, "Invalid input error: experiment namespace is empty")
        experiment = {
            "experiment_id": _new_id(),
            "display_name": body["display_name"],
            "description": body.get("description") or "",
            "created_at": CREATED_AT,
            "namespace": body.get("namespace") or "",
            "storage_state": "AVAILABLE",
            "last_run_created_at": NEVER,
        }
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _check_references(self, body: dict[str, Any]) -> None:
        if body.get("experiment_id") not in self.experiments:
            raise ApiError(404, f"Not found error: experiment {body.get('experiment_id')!r}")
        reference = body.get("pipeline_version_reference") or {}
        versions = self.versions.get(reference.get("pipeline_id", ""), [])
        if not any(
            v["pipeline_version_id"] == reference.get("pipeline_version_id") for v in versions
        ):
            raise ApiError(404, f"Not found error: pipeline version {reference!r}")

    def _create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_references(body)
        run = {
            **body,
            "run_id": _new_id(),
            "storage_state": "AVAILABLE",
            "created_at": CREATED_AT,
            "scheduled_at": CREATED_AT,
            "finished_at": NEVER,
            "state": "PENDING",
            "state_history": [{"update_time": CREATED_AT, "state": "PENDING"}],
        }
        self.runs[run["run_id"]] = run
        return run

    def _get_run(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.runs:
            raise ApiError(404, f"Not found error: run {run_id!r}")
        reads = self._run_reads.get(run_id, 0)
        self._run_reads[run_id] = reads + 1
        state = self.run_states[min(reads, len(self.run_states) - 1)]
        return {**self.runs[run_id], "state": state}

    def _create_recurring_run(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_references(body)
        if not (body.get("trigger") or {}).get("cron_schedule", {}).get("cron"):
            raise ApiError(400, "Invalid input error: a trigger is required")
        recurring = {
            **body,
            "recurring_run_id": _new_id(),
            "max_concurrency": str(body.get("max_concurrency", "1")),  # int64 -> JSON string
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "status": "ENABLED" if body.get("mode") == "ENABLE" else "DISABLED",
            "namespace": self.experiments[body["experiment_id"]]["namespace"],
        }
        self.recurring_runs[recurring["recurring_run_id"]] = recurring
        return recurring

    # --- the HTTP server ---------------------------------------------------------------------

    @contextmanager
    def serve(self) -> Iterator[KfpApiDouble]:
        """Listen on 127.0.0.1 (a free port) while the block runs; ``self.url`` is its base."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _first_document(content: str) -> dict[str, Any] | None:
    import yaml

    if not content:
        return None
    return next(yaml.safe_load_all(content), None)


def _parse_multipart(content_type: str, data: bytes) -> dict[str, dict[str, str]]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + data
    )
    if not message.is_multipart():
        raise ApiError(400, "Invalid input error: expected multipart/form-data")
    parts: dict[str, dict[str, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        parts[str(name)] = {
            "filename": part.get_filename() or "",
            "content": payload.decode("utf-8"),
        }
    return parts


def _handler_for(double: KfpApiDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

        def _answer(self) -> None:
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            content_type = self.headers.get("Content-Type", "")
            try:
                try:
                    if content_type.startswith("multipart/form-data"):
                        body: Any = _parse_multipart(content_type, data)
                    else:
                        body = json.loads(data) if data else None
                except (ValueError, UnicodeDecodeError) as error:
                    raise ApiError(400, f"Invalid input error: unreadable body: {error}") from None
                request = RecordedRequest(
                    self.command, url.path, query, dict(self.headers.items()), body
                )
                status, payload = HTTPStatus.OK, double.handle(request)
            except ApiError as error:
                status = HTTPStatus(error.status)
                payload = {
                    "error": error.message,
                    "code": GRPC_CODES.get(error.status, 2),
                    "message": error.message,
                    "details": [],
                }
            encoded = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        do_GET = _answer
        do_POST = _answer
        do_DELETE = _answer

    return Handler
