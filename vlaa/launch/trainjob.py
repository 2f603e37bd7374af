"""Multi-node training jobs on Kubernetes: submission and following (specs: ``job_specs``).

``submit_and_wait`` creates the object, polls its conditions (TrainJob: Complete / Failed;
PyTorchJob: Succeeded / Failed), copies the pods' logs into the step's log prefixed by node,
and deletes the job on timeout, interrupt or SIGTERM (a cancelled pipeline run).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from vlaa.cluster import TRAINING_LAUNCHER_TOKEN_DIR, TRAINING_LAUNCHER_TOKEN_SECRET
from vlaa.images import TRAINER_IMAGE
from vlaa.launch.job_specs import (
    FAILED,
    JOB_KINDS,
    MAX_UNANSWERED_POLLS,
    STEP_CONTAINER,
    JobKind,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- API access


def kubernetes_client(token_dir: Path | None = None) -> k8s.ApiClient:
    """The training launcher's token when the step mounts it (sft/grpo, docs/cluster.md),
    else in a pod its own service account, else the current kubeconfig context."""
    configuration = k8s.Configuration()
    token_dir = Path(TRAINING_LAUNCHER_TOKEN_DIR) if token_dir is None else token_dir
    try:
        if (token_dir / "token").is_file():
            # A kubernetes.io/service-account-token Secret holds `token` and `ca.crt`; the
            # loader takes the API server's address from the pod's KUBERNETES_SERVICE_* env
            # (kubernetes/config/incluster_config.py) and re-reads the token file as it ages.
            k8s_config.incluster_config.InClusterConfigLoader(
                token_filename=str(token_dir / "token"), cert_filename=str(token_dir / "ca.crt")
            ).load_and_set(configuration)
            return k8s.ApiClient(configuration)
        k8s_config.load_incluster_config(client_configuration=configuration)
    except k8s_config.ConfigException:
        try:
            return k8s_config.new_client_from_config()
        except (k8s_config.ConfigException, OSError) as error:
            raise JobSubmitError(
                "no Kubernetes API to submit the training job to: not in a pod with a service "
                f"account, and no usable kubeconfig ({error})"
            ) from None
    return k8s.ApiClient(configuration)


def own_image(api_client: k8s.ApiClient, namespace: str) -> str:
    """The image of the step's own container (so workers run the same code), else the
    configured trainer image."""
    pod_name = os.environ.get("HOSTNAME")
    if pod_name:
        try:
            pod = k8s.CoreV1Api(api_client).read_namespaced_pod(pod_name, namespace)
            for container in pod.spec.containers:
                if container.name == STEP_CONTAINER:
                    return str(container.image)
        except (ApiException, OSError) as error:
            log.info("cannot read the step pod's image (%s); using %s", error, TRAINER_IMAGE)
    return TRAINER_IMAGE


# ---------------------------------------------------------------------------- following a job


class JobError(RuntimeError):
    """A training job could not be created, failed, or ran out of time."""


class JobSubmitError(JobError):
    pass


class JobFailedError(JobError):
    def __init__(self, message: str, outcome: JobOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome


class JobTimeoutError(JobError):
    pass


@dataclass
class JobOutcome:
    kind: str
    name: str
    namespace: str
    succeeded: bool
    reason: str
    message: str
    seconds: float
    conditions: list[dict[str, Any]] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "succeeded": self.succeeded,
            "reason": self.reason,
            "message": self.message,
            "seconds": round(self.seconds, 1),
        }


def terminal_condition(kind: JobKind, status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The job's Complete/Succeeded or Failed condition, when one is True."""
    for condition in (status or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in (kind.succeeded, FAILED):
            return dict(condition)
    return None


def submit_and_wait(
    spec: Mapping[str, Any],
    api_client: k8s.ApiClient,
    log_sink: Callable[[str], None],
    timeout: float,
    *,
    poll_interval: float = 10.0,
    delete_on_success: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> JobOutcome:
    """Create the job, follow it to the end and return how it ended.

    Raises ``JobSubmitError`` when the API refuses the object, ``JobFailedError`` (the job is
    kept for ``kubectl describe``) when it fails, ``JobTimeoutError`` after ``timeout`` seconds
    (the job is deleted). An interrupt, SIGTERM, or losing the API for
    ``MAX_UNANSWERED_POLLS`` polls in a row deletes the job and propagates.
    """
    kind = JOB_KINDS.get(str(spec.get("kind")))
    if kind is None:
        raise ValueError(f"unsupported job kind {spec.get('kind')!r}; use {sorted(JOB_KINDS)}")
    name, namespace = spec["metadata"]["name"], spec["metadata"]["namespace"]
    custom = k8s.CustomObjectsApi(api_client)
    where = f"{kind.kind} {namespace}/{name}"
    _create(custom, kind, namespace, dict(spec), where)
    logs = PodLogs(k8s.CoreV1Api(api_client), namespace, kind, name, log_sink)
    started = clock()
    unanswered = 0
    try:
        with _sigterm_as_interrupt():
            while True:
                job = _get(custom, kind, namespace, name, where)
                if job is None:  # the API server did not answer this time
                    unanswered += 1
                    if unanswered > MAX_UNANSWERED_POLLS:
                        raise JobError(
                            f"the Kubernetes API did not answer {unanswered} polls of {where} "
                            "in a row; giving up on it"
                        )
                else:
                    unanswered = 0
                    logs.pump()
                    condition = terminal_condition(kind, job.get("status"))
                    if condition is not None:
                        logs.pump(final=True)
                        break
                if clock() - started > timeout:
                    _delete(custom, kind, namespace, name)
                    raise JobTimeoutError(
                        f"{where} did not finish within {timeout:.0f} s; it was deleted"
                    )
                sleep(poll_interval)
    except JobTimeoutError:
        raise
    except BaseException as error:
        # Interrupt, SIGTERM (a cancelled run) or losing track of the job: nobody would
        # collect its result, so free its GPUs.
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else type(error).__name__
        log_sink(f"[vlaa] {reason}: deleting {where}")
        _delete(custom, kind, namespace, name)
        raise
    outcome = JobOutcome(
        kind=kind.kind,
        name=name,
        namespace=namespace,
        succeeded=condition["type"] == kind.succeeded,
        reason=str(condition.get("reason", "")),
        message=str(condition.get("message", "")),
        seconds=clock() - started,
        conditions=list((job.get("status") or {}).get("conditions") or []),
        pods=logs.pod_names(),
    )
    if not outcome.succeeded:
        failures = "; ".join(logs.failures()) or "no pod reported an exit code"
        raise JobFailedError(
            f"{where} failed ({outcome.reason}: {outcome.message}); {failures}. The job is "
            f"kept for inspection: kubectl -n {namespace} describe {kind.plural} {name}",
            outcome,
        )
    log_sink(f"[vlaa] {where} finished: {outcome.reason} ({outcome.message})")
    if delete_on_success:
        _delete(custom, kind, namespace, name)
    return outcome


def _create(
    custom: k8s.CustomObjectsApi, kind: JobKind, namespace: str, body: dict[str, Any], where: str
) -> None:
    try:
        custom.create_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, body
        )
    except ApiException as error:
        hint = {
            404: f"is {kind.group} installed (the {kind.plural} resource was not found)?",
            403: f"the service account may not create {kind.plural}: is the Secret "
            f"{TRAINING_LAUNCHER_TOKEN_SECRET} mounted (docs/cluster.md)?",
            409: "a job of that name exists already",
            422: "the API server rejected the spec",
        }.get(error.status, "")
        raise JobSubmitError(
            f"cannot create {where}: HTTP {error.status} {_api_message(error)} {hint}".strip()
        ) from None


def _get(
    custom: k8s.CustomObjectsApi, kind: JobKind, namespace: str, name: str, where: str
) -> dict[str, Any] | None:
    """The job object; None when the API server is briefly unavailable (5xx, 429, network)."""
    try:
        job = custom.get_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, name
        )
    except ApiException as error:
        if error.status == 404:
            raise JobError(f"{where} disappeared (deleted by someone else?)") from None
        if error.status in (0, 429) or error.status >= 500:
            log.warning("polling %s: HTTP %s %s", where, error.status, error.reason)
            return None
        raise
    except (urllib3.exceptions.HTTPError, OSError) as error:
        log.warning("polling %s: %s", where, error)
        return None
    return dict(job)


def _delete(custom: k8s.CustomObjectsApi, kind: JobKind, namespace: str, name: str) -> None:
    try:
        custom.delete_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, name, propagation_policy="Background"
        )
    except ApiException as error:
        if error.status != 404:
            log.warning("could not delete %s %s/%s: %s", kind.kind, namespace, name, error)


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Kubernetes stops a cancelled step with SIGTERM: turn it into KeyboardInterrupt so the
    job is deleted instead of left running on the GPUs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------------------- pod logs


def parse_timestamp(text: str) -> tuple[datetime, int] | None:
    """RFC 3339 with nanoseconds, as the kubelet writes it -> (seconds, nanoseconds)."""
    stamp = text.rstrip("Z")
    whole, _, fraction = stamp.partition(".")
    try:
        seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    digits = (fraction + "000000000")[:9]
    return seconds, int(digits) if digits.isdigit() else 0


@dataclass
class _PodState:
    last_stamp: tuple[datetime, int] | None = None
    last_read: float | None = None
    done: bool = False


class PodLogs:
    """Copies the training container's log of every pod of a job into ``sink``, each line
    prefixed with the pod's node index. Polls with ``since_seconds`` and drops lines already
    seen by their kubelet timestamp, so reconnecting never repeats or skips a line."""

    SLACK_SECONDS = 5

    def __init__(
        self,
        core: k8s.CoreV1Api,
        namespace: str,
        kind: JobKind,
        name: str,
        sink: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core, self.namespace, self.kind, self.name = core, namespace, kind, name
        self.sink, self.clock = sink, clock
        self.states: dict[str, _PodState] = {}
        self._terminated: dict[str, str] = {}

    def pod_names(self) -> list[str]:
        return sorted(self.states)

    def failures(self) -> list[str]:
        """'node 1 (pod-x): exit code 1 (Error)' for each pod whose container failed."""
        return [self._terminated[pod] for pod in sorted(self._terminated)]

    def pump(self, final: bool = False) -> None:
        try:
            pods = self.core.list_namespaced_pod(
                self.namespace, label_selector=self.kind.pod_selector(self.name)
            ).items
        except ApiException as error:
            log.warning("cannot list the pods of %s: %s", self.name, error.reason)
            return
        for pod in sorted(pods, key=lambda p: (node_index(p, self.kind), p.metadata.name)):
            if self.kind.container not in {c.name for c in pod.spec.containers or []}:
                continue  # e.g. a dataset initializer: not a training node
            self._note_exit(pod)
            phase = pod.status.phase if pod.status else None
            if phase in ("Running", "Succeeded", "Failed") or (final and phase is not None):
                self._read(pod, finished=phase in ("Succeeded", "Failed"))

    def _read(self, pod: k8s.V1Pod, finished: bool) -> None:
        name = pod.metadata.name
        state = self.states.setdefault(name, _PodState())
        if state.done:
            return
        now = self.clock()
        since = None
        if state.last_read is not None:
            since = max(1, math.ceil(now - state.last_read) + self.SLACK_SECONDS)
        try:
            text = self.core.read_namespaced_pod_log(
                name,
                self.namespace,
                container=self.kind.container,
                timestamps=True,
                since_seconds=since,
            )
        except ApiException as error:  # e.g. the container has not started yet
            log.debug("no log from %s yet: %s", name, error.reason)
            return
        state.last_read = now
        prefix = f"[node {node_index(pod, self.kind)}]"
        for line in (text or "").splitlines():
            stamp_text, _, message = line.partition(" ")
            stamp = parse_timestamp(stamp_text)
            if stamp is None:  # not a timestamped line: keep it whole
                self.sink(f"{prefix} {line}")
                continue
            if state.last_stamp is not None and stamp <= state.last_stamp:
                continue
            state.last_stamp = stamp
            self.sink(f"{prefix} {message}")
        state.done = finished

    def _note_exit(self, pod: k8s.V1Pod) -> None:
        for status in (pod.status.container_statuses or []) if pod.status else []:
            terminated = status.state.terminated if status.state else None
            if status.name == self.kind.container and terminated and terminated.exit_code:
                self._terminated[pod.metadata.name] = (
                    f"node {node_index(pod, self.kind)} ({pod.metadata.name}): exit code "
                    f"{terminated.exit_code} ({terminated.reason or 'no reason'})"
                )


def node_index(pod: k8s.V1Pod, kind: JobKind) -> int:
    """The pod's node rank: its completion index (TrainJob) or Master 0 / Worker i+1."""
    labels = pod.metadata.labels or {}
    annotations = pod.metadata.annotations or {}
    if kind.kind == "TrainJob":
        index = labels.get("batch.kubernetes.io/job-completion-index") or annotations.get(
            "batch.kubernetes.io/job-completion-index"
        )
        return int(index) if index and index.isdigit() else 0
    replica = labels.get("training.kubeflow.org/replica-type", "master").lower()
    index = labels.get("training.kubeflow.org/replica-index", "0")
    position = int(index) if index.isdigit() else 0
    return position if replica == "master" else position + 1
