"""A Kubernetes API server double on loopback for the TrainJob / PyTorchJob tests.

A real HTTP server (``http.server`` in a thread) answering the paths the ``kubernetes`` client
calls, with the JSON shapes of the API reference:

- ``POST|GET|DELETE /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]`` for
  ``trainjobs`` (trainer.kubeflow.org/v1alpha1) and ``pytorchjobs`` (kubeflow.org/v1): the
  stored object gains ``metadata.uid / resourceVersion / creationTimestamp / generation``;
  each GET advances its ``status`` one step along the scripted course (TrainJob: jobsStatus
  then a ``Complete`` or ``Failed`` condition copied from JobSet; PyTorchJob: ``Created`` ->
  ``Running`` -> ``Succeeded`` or ``Failed``).
- ``GET /api/v1/namespaces/{ns}/pods?labelSelector=...``: the job's pods, labelled as JobSet
  (``jobset.sigs.k8s.io/jobset-name``, completion index) or the Training Operator
  (``training.kubeflow.org/job-name``, replica type and index) label them, phases following
  the job (Pending -> Running -> Succeeded/Failed, with the container's exit code).
- ``GET /api/v1/namespaces/{ns}/pods/{name}/log``: the log lines revealed so far, with
  kubelet timestamps when ``timestamps=true``; ``since_seconds`` is ignored, so every read
  repeats earlier lines (the client must drop them).

Every request is recorded (method, path, query, JSON body). A ``gate`` holds a job in Running
until the test sets it (e.g. while a worker writes the job's result).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client as k8s

JOB_RESOURCES = {
    ("trainer.kubeflow.org", "v1alpha1", "trainjobs"): "TrainJob",
    ("kubeflow.org", "v1", "pytorchjobs"): "PyTorchJob",
}
EPOCH = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class JobScript:
    """How the next created job behaves.

    ``outcome``: "complete", "failed" or "never" (stays Running). ``running_polls``: GETs that
    see it Running before the end. ``log_lines``: per node; revealed in halves (first half
    while Running, the rest at the end). ``exit_code`` of the failing node (the last one).
    """

    outcome: str = "complete"
    running_polls: int = 2
    log_lines: dict[int, list[str]] = field(default_factory=dict)
    failure_message: str | None = None  # default: what JobSet / the operator would say
    exit_code: int = 1
    unavailable_gets: int = 0  # GETs of the job answered 503 first (an API server hiccup)
    gate: threading.Event | None = None
    on_create: Callable[[dict[str, Any]], None] | None = None


@dataclass
class _Job:
    kind: str
    body: dict[str, Any]
    script: JobScript
    nodes: int
    gets: int = 0
    state: str = "created"  # created -> running -> complete | failed
    deleted: bool = False


class KubernetesApiDouble:
    """Start with ``with KubernetesApiDouble() as api:``; ``api.client()`` talks to it."""

    def __init__(self, installed: tuple[str, ...] = ("trainjobs", "pytorchjobs")) -> None:
        self.installed = set(installed)
        self.requests: list[Recorded] = []
        self.jobs: dict[tuple[str, str, str], _Job] = {}
        self.next_script = JobScript()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.pod_images: dict[str, str] = {}  # pod name -> image of its "main" container

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> KubernetesApiDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def client(self) -> k8s.ApiClient:
        configuration = k8s.Configuration()
        configuration.host = self.url
        return k8s.ApiClient(configuration)

    def calls(self, method: str, fragment: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and fragment in r.path]

    # ------------------------------------------------------------------ HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                query = parse_qs(parts.query)
                with double._lock:
                    double.requests.append(Recorded(self.command, parts.path, query, body))
                    status, payload = double._route(self.command, parts.path, query, body)
                text = payload if isinstance(payload, str) else json.dumps(payload)
                kind = "text/plain" if isinstance(payload, str) else "application/json"
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        return Handler

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        segments = path.strip("/").split("/")
        if segments[:1] == ["apis"] and len(segments) in (6, 7) and segments[3] == "namespaces":
            _, group, version, _, namespace, plural, *rest = segments
            kind = JOB_RESOURCES.get((group, version, plural))
            if kind is None or plural not in self.installed:
                return 404, _status(404, "NotFound", f"the server could not find {plural}")
            if method == "POST" and not rest:
                return self._create(kind, plural, namespace, body)
            if rest:
                key = (plural, namespace, rest[0])
                if method == "GET":
                    return self._get(key, kind)
                if method == "DELETE":
                    return self._delete(key, kind)
        if segments[:3] == ["api", "v1", "namespaces"] and len(segments) >= 5:
            namespace = segments[3]
            if segments[4] == "pods" and len(segments) == 5 and method == "GET":
                selector = (query.get("labelSelector") or [""])[0]
                return 200, self._pod_list(namespace, selector)
            if segments[4] == "pods" and len(segments) == 6 and method == "GET":
                return self._pod(namespace, segments[5])
            if segments[4] == "pods" and segments[6:] == ["log"] and method == "GET":
                return self._log(namespace, segments[5], query)
        return 404, _status(404, "NotFound", f"no route for {method} {path}")

    # ------------------------------------------------------------------ jobs

    def _create(self, kind: str, plural: str, namespace: str, body: Any) -> tuple[int, Any]:
        name = body["metadata"]["name"]
        key = (plural, namespace, name)
        if key in self.jobs and not self.jobs[key].deleted:
            return 409, _status(409, "AlreadyExists", f'{plural} "{name}" already exists')
        stored = json.loads(json.dumps(body))
        stored["metadata"].update(
            {
                "uid": str(uuid.uuid4()),
                "resourceVersion": "1000",
                "generation": 1,
                "creationTimestamp": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        script, self.next_script = self.next_script, JobScript()
        job = _Job(kind, stored, script, nodes=_nodes(kind, stored))
        self.jobs[key] = job
        if script.on_create is not None:
            script.on_create(json.loads(json.dumps(body)))
        return 201, stored

    def _get(self, key: tuple[str, str, str], kind: str) -> tuple[int, Any]:
        job = self.jobs.get(key)
        if job is None or job.deleted:
            return 404, _status(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        if job.script.unavailable_gets > 0:
            job.script.unavailable_gets -= 1
            return 503, _status(503, "ServiceUnavailable", "the server is currently unable")
        job.gets += 1
        self._advance(job)
        job.body["metadata"]["resourceVersion"] = str(1000 + job.gets)
        job.body["status"] = _job_status(job)
        return 200, job.body

    def _advance(self, job: _Job) -> None:
        """First GET: just created; then Running for ``running_polls`` GETs; then the end,
        unless the script never ends or its gate is still closed."""
        script = job.script
        if job.gets == 1:
            job.state = "created"
        elif job.state == "created" or (job.state == "running" and not self._may_end(job)):
            job.state = "running"
        elif job.state == "running":
            job.state = "complete" if script.outcome == "complete" else "failed"

    @staticmethod
    def _may_end(job: _Job) -> bool:
        script = job.script
        if script.outcome == "never" or (script.gate is not None and not script.gate.is_set()):
            return False
        return job.gets > script.running_polls + 1

    def _delete(self, key: tuple[str, str, str], kind: str) -> tuple[int, Any]:
        job = self.jobs.get(key)
        if job is None or job.deleted:
            return 404, _status(404, "NotFound", f'{key[0]} "{key[2]}" not found')
        job.deleted = True
        return 200, {**_status(200, "", ""), "status": "Success", "details": {"name": key[2]}}

    # ------------------------------------------------------------------ pods

    def _pods(self, namespace: str) -> Iterator[tuple[_Job, int, dict[str, Any]]]:
        for (_, job_namespace, name), job in self.jobs.items():
            if job_namespace != namespace or job.deleted:
                continue
            for node in range(job.nodes):
                yield job, node, _pod(job, name, node)

    def _pod_list(self, namespace: str, selector: str) -> dict[str, Any]:
        wanted = dict(pair.split("=", 1) for pair in selector.split(",") if pair)
        items = [
            pod
            for _, _, pod in self._pods(namespace)
            if all(pod["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]
        return {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "2000"},
            "items": items,
        }

    def _pod(self, namespace: str, name: str) -> tuple[int, Any]:
        if name in self.pod_images:
            return 200, {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"containers": [{"name": "main", "image": self.pod_images[name]}]},
            }
        for _, _, pod in self._pods(namespace):
            if pod["metadata"]["name"] == name:
                return 200, pod
        return 404, _status(404, "NotFound", f'pods "{name}" not found')

    def _log(self, namespace: str, name: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        for job, node, pod in self._pods(namespace):
            if pod["metadata"]["name"] != name:
                continue
            container = (query.get("container") or [""])[0]
            if container != _container(job.kind):
                return 400, _status(400, "BadRequest", f"container {container} is not valid")
            if pod["status"]["phase"] == "Pending":
                return 400, _status(400, "BadRequest", "container is waiting to start")
            lines = job.script.log_lines.get(node, [])
            shown = lines if job.state in ("complete", "failed") else lines[: len(lines) // 2]
            stamped = _go_bool((query.get("timestamps") or ["false"])[0])
            out = [f"{_stamp(node, i)} {line}" if stamped else line for i, line in enumerate(shown)]
            return 200, "".join(line + "\n" for line in out)
        return 404, _status(404, "NotFound", f'pods "{name}" not found')


# ---------------------------------------------------------------------------- shapes


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _go_bool(text: str) -> bool:
    """Query booleans as the API server parses them (Go's strconv.ParseBool)."""
    return text in ("1", "t", "T", "true", "TRUE", "True")


def _nodes(kind: str, body: dict[str, Any]) -> int:
    if kind == "TrainJob":
        return int(body["spec"]["trainer"]["numNodes"])
    specs = body["spec"]["pytorchReplicaSpecs"]
    return sum(int(spec["replicas"]) for spec in specs.values())


def _container(kind: str) -> str:
    return "node" if kind == "TrainJob" else "pytorch"


def _stamp(node: int, index: int) -> str:
    # Nanosecond stamps with the trailing zeros the kubelet trims (".5Z" after ".123Z").
    moment = EPOCH + timedelta(seconds=index, microseconds=node * 10)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastUpdateTime": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _job_status(job: _Job) -> dict[str, Any]:
    name = job.body["metadata"]["name"]
    if job.kind == "TrainJob":
        if job.state == "created":
            return {}
        active = 1 if job.state == "running" else 0
        status: dict[str, Any] = {
            "jobsStatus": [
                {
                    "name": "node",
                    "ready": active,
                    "succeeded": int(job.state == "complete"),
                    "failed": int(job.state == "failed"),
                    "active": active,
                    "suspended": 0,
                }
            ]
        }
        if job.state == "complete":
            status["conditions"] = [
                _condition("Complete", "AllJobsCompleted", "jobset completed successfully")
            ]
        elif job.state == "failed":
            message = job.script.failure_message or "jobset failed due to one or more job failures"
            status["conditions"] = [_condition("Failed", "FailedJobs", message)]
        return status
    conditions = [_condition("Created", "PyTorchJobCreated", f"PyTorchJob {name} is created.")]
    if job.state != "created":
        conditions.append(
            _condition("Running", "PyTorchJobRunning", f"PyTorchJob {name} is running.")
        )
    if job.state == "complete":
        conditions[-1]["status"] = "False"
        conditions.append(
            _condition(
                "Succeeded", "PyTorchJobSucceeded", f"PyTorchJob {name} is successfully completed."
            )
        )
    elif job.state == "failed":
        conditions[-1]["status"] = "False"
        message = job.script.failure_message or (
            f"PyTorchJob {name} is failed because 1 Worker replica(s) failed."
        )
        conditions.append(_condition("Failed", "PyTorchJobFailed", message))
    return {"conditions": conditions, "replicaStatuses": {"Master": {}}}


def _pod(job: _Job, name: str, node: int) -> dict[str, Any]:
    phase = {"created": "Pending", "running": "Running", "complete": "Succeeded"}.get(
        job.state, "Succeeded"
    )
    failing = job.state == "failed" and node == job.nodes - 1
    if failing:
        phase = "Failed"
    if job.kind == "TrainJob":
        pod_name = f"{name}-node-0-{node}-abcde"
        labels = {
            "jobset.sigs.k8s.io/jobset-name": name,
            "jobset.sigs.k8s.io/replicatedjob-name": "node",
            "batch.kubernetes.io/job-completion-index": str(node),
        }
        annotations = {"batch.kubernetes.io/job-completion-index": str(node)}
    else:
        replica = "master" if node == 0 else "worker"
        index = 0 if node == 0 else node - 1
        pod_name = f"{name}-{replica}-{index}"
        labels = {
            "training.kubeflow.org/job-name": name,
            "training.kubeflow.org/replica-type": replica,
            "training.kubeflow.org/replica-index": str(index),
        }
        annotations = {}
    template_labels = _template_labels(job)
    container = _container(job.kind)
    state: dict[str, Any] = {}
    if phase == "Running":
        state = {"running": {"startedAt": "2025-06-01T12:00:01Z"}}
    elif phase in ("Succeeded", "Failed"):
        code = job.script.exit_code if failing else 0
        state = {
            "terminated": {
                "exitCode": code,
                "reason": "Error" if code else "Completed",
                "startedAt": "2025-06-01T12:00:01Z",
                "finishedAt": "2025-06-01T12:10:00Z",
            }
        }
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": pod_name,
            "namespace": job.body["metadata"]["namespace"],
            "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, pod_name)),
            "resourceVersion": "3000",
            "labels": {**template_labels, **labels},
            "annotations": annotations,
        },
        "spec": {"containers": [{"name": container, "image": "worker-image"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": container,
                    "ready": phase == "Running",
                    "restartCount": 0,
                    "image": "worker-image",
                    "imageID": "",
                    "state": state,
                }
            ]
            if state
            else [],
        },
    }


def _template_labels(job: _Job) -> dict[str, str]:
    """The labels the pod template asks for (what the PodMonitor selects on)."""
    spec = job.body["spec"]
    if job.kind == "PyTorchJob":
        return dict(spec["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["labels"])
    for patch in spec.get("runtimePatches", []):
        for replicated in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
            return dict(replicated["template"]["spec"]["template"]["metadata"]["labels"])
    for override in spec.get("podTemplateOverrides", []):
        return dict(override["metadata"]["labels"])
    return {}
