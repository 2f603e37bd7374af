"""Submit and schedule the pipelines on a Kubeflow Pipelines server through ``kfp.Client``.

``vlaa submit`` and ``vlaa schedule`` call these in order: compile the pipeline and read its
parameters, turn the parameter file into run arguments (validated like ``vlaa run --params``),
check the cron expression, and only then talk to the server: connect, make sure the compiled
pipeline is there as a version (named after its content hash, so unchanged code reuses it),
get or create the experiment, create the run or the recurring run.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp
import kfp_server_api
import urllib3
import yaml

from vlaa.cluster import PIPELINE_SERVICE_ACCOUNT
from vlaa.errors import UserError
from vlaa.parameters import (
    ParameterError,
    RunParameters,
    check_gpu_placement,
    load_parameter_file,
    validate_over_preset,
)
from vlaa.pipelines.compile import compile_pipeline
from vlaa.pipelines.cron import check_schedule
from vlaa.registry.config import PublishConfig

DEFAULT_TOKEN_ENV = "KFP_API_TOKEN"
DEFAULT_SERVICE_ACCOUNT = PIPELINE_SERVICE_ACCOUNT
UI_HOST_ENV = "KF_PIPELINES_UI_ENDPOINT"  # kfp.Client's own convention for the UI address
TERMINAL_RUN_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})
HEALTHZ_TIMEOUT_SECONDS = 15


class SubmitError(UserError):
    """Submission cannot go on; the message says why and what to change."""


# --- the compiled pipeline ------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledPipeline:
    """A pipeline compiled to IR YAML for upload, with its content hash and input parameters."""

    name: str
    path: Path
    sha256: str
    inputs: Mapping[str, Mapping[str, Any]]  # root.inputDefinitions.parameters of the IR

    @property
    def default_version_name(self) -> str:
        return f"{self.name}-{self.sha256[:12]}"


def compile_for_upload(pipeline_name: str, directory: Path) -> CompiledPipeline:
    """Compile ``pipeline_name`` to ``directory/<name>.yaml`` (the server reads the format from
    the file extension) and read its content hash and parameters."""
    path = compile_pipeline(pipeline_name, directory / f"{pipeline_name}.yaml")
    content = path.read_bytes()
    # the pipeline spec comes first; a platform spec (kfp-kubernetes settings) may follow
    spec = next(yaml.safe_load_all(content), None) or {}
    inputs = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return CompiledPipeline(pipeline_name, path, hashlib.sha256(content).hexdigest(), inputs)


# --- run parameters -------------------------------------------------------------------------

_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "STRUCT": (dict,),
    "LIST": (list,),
}


def _type_problem(name: str, value: Any, parameter_type: str) -> str | None:
    expected = _PARAMETER_TYPES.get(parameter_type)
    if expected is None:
        return None
    # bool is an int in Python, but not a NUMBER_* for KFP
    wrong_bool = isinstance(value, bool) and bool not in expected
    if isinstance(value, expected) and not wrong_bool:
        return None
    return f"{name}: expected {parameter_type} (got {value!r})"


PLACEMENT_PARAMETERS = ("gpu_type", "gpu_count")


def _checked_placement(user: dict[str, Any], compiled: CompiledPipeline) -> dict[str, Any]:
    """``user`` with a given ``gpu_type`` / ``gpu_count`` checked and made the strings the
    pipeline takes (``gpu_count: 8`` becomes ``"8"``); the other is checked at its default."""
    if not any(key in user and key in compiled.inputs for key in PLACEMENT_PARAMETERS):
        return user
    gpu_type, gpu_count = (
        user.get(key, compiled.inputs.get(key, {}).get("defaultValue"))
        for key in PLACEMENT_PARAMETERS
    )
    checked = dict(zip(PLACEMENT_PARAMETERS, check_gpu_placement(gpu_type, gpu_count), strict=True))
    return {**user, **{key: checked[key] for key in PLACEMENT_PARAMETERS if key in user}}


def run_parameters(
    params_file: Path | None, preset: str, compiled: CompiledPipeline
) -> dict[str, Any]:
    """The KFP run arguments for ``compiled`` from a parameter file over a named preset.

    The file has the ``vlaa run --params`` format (``base_model``, ``grpo_init``, ``data``,
    ``sft``, ``grpo``, ``evaluate``, ``publish``), validated by the same code. A top-level key
    that is not a run parameter but is one of the pipeline's own parameters (a cluster setting
    such as ``gpu_type``) is passed as is after a type check. Anything else, and a run
    parameter the chosen pipeline does not take, is an error naming it. ``gpu_count`` may be
    given as an int; it is passed as the string the pipeline takes.
    """
    user = _checked_placement(load_parameter_file(params_file) if params_file else {}, compiled)
    source = f" (in {params_file})" if params_file else ""
    run_fields = list(RunParameters.model_fields)
    problems: list[str] = []
    passthrough: dict[str, Any] = {}
    for key, value in user.items():
        if key in run_fields:
            continue
        if key in compiled.inputs:
            problem = _type_problem(key, value, compiled.inputs[key].get("parameterType", ""))
            if problem:
                problems.append(problem)
            passthrough[key] = value
        else:
            accepted = sorted(set(compiled.inputs))
            problems.append(
                f"{key}: unknown parameter for {compiled.name}{source}; "
                f"it takes {', '.join(accepted)}"
            )
    if problems:
        raise ParameterError("; ".join(problems))

    validated = validate_over_preset(user, preset)
    arguments: dict[str, Any] = {}
    for field in run_fields:
        if field in compiled.inputs:
            arguments[field] = getattr(validated, field)
        elif field in user:
            problems.append(
                f"{field}: {compiled.name} has no parameter {field!r}{source}; "
                "remove it or pick the pipeline that takes it"
            )
        # else: a preset value the chosen pipeline does not take (the study has no publish step)
    arguments.update(passthrough)
    missing = [
        name
        for name, spec in compiled.inputs.items()
        if name not in arguments and not spec.get("isOptional") and "defaultValue" not in spec
    ]
    if missing:
        problems.append(f"{compiled.name} needs a value for {', '.join(sorted(missing))}")
    if problems:
        raise ParameterError("; ".join(problems))
    return arguments


def cluster_warnings(arguments: Mapping[str, Any]) -> list[str]:
    """Settings that run on a cluster but lose results there."""
    publish = arguments.get("publish")
    if publish is None:
        return []
    store_uri = PublishConfig.model_validate(publish).store_uri  # validated already
    if "://" in store_uri:
        return []
    return [
        f"publish.store_uri is {store_uri!r}, a folder inside the publish task's pod: the "
        "published model is lost when the pod ends; set publish.store_uri, e.g. "
        "s3://vlaa-models/registry"
    ]


# --- talking to the server ------------------------------------------------------------------


def _api_message(error: kfp_server_api.ApiException) -> str:
    """The server's own message from a KFP error body (gRPC-gateway JSON), else the reason."""
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body
    try:
        parsed = json.loads(body or "")
        message = (
            (parsed.get("message") or parsed.get("error")) if isinstance(parsed, dict) else None
        )
    except ValueError:
        message = None
    return " ".join(str(message or body or error.reason or "").split())[:500]


@contextlib.contextmanager
def _kfp_call(action: str) -> Iterator[None]:
    """Turn KFP API and connection errors into one line, and keep the client's own prints
    (links it writes to stdout) out of the command's output."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except kfp_server_api.ApiException as error:
        raise SubmitError(
            f"KFP API error while {action}: HTTP {error.status} {error.reason}: "
            f"{_api_message(error)}"
        ) from None
    except urllib3.exceptions.HTTPError as error:
        raise SubmitError(f"cannot reach KFP while {action}: {error}") from None


def resolve_token(token_env: str | None) -> str | None:
    """The API token from the environment variable named ``token_env``; with no name, from
    ``KFP_API_TOKEN`` if set, else none (a port-forwarded server needs no token)."""
    if token_env is None:
        return os.environ.get(DEFAULT_TOKEN_ENV) or None
    token = os.environ.get(token_env)
    if not token:
        raise SubmitError(f"environment variable {token_env} (--token-env) is not set or empty")
    return token


def check_host(host: str | None) -> str:
    if not host:
        raise SubmitError("give the KFP API address with --host or KFP_HOST")
    if not host.startswith(("http://", "https://")):
        raise SubmitError(
            f"--host {host!r} needs its scheme, e.g. http://localhost:8080 for a port-forward"
        )
    return host.rstrip("/")


def connect(
    host: str | None, namespace: str | None = None, token_env: str | None = None
) -> kfp.Client:
    """A ``kfp.Client`` for ``host``, after a quick health check that fails in one line.

    The token (if any) goes in the ``Authorization: Bearer`` header only; it is never printed.
    ``namespace`` is the user's profile namespace on a multi-user Kubeflow.
    """
    host = check_host(host)
    token = resolve_token(token_env)
    configuration = kfp_server_api.Configuration(host=host)
    if token:
        configuration.api_key["authorization"] = token
        configuration.api_key_prefix["authorization"] = "Bearer"
    # kfp.Client's own health check retries for 25 s on any HTTP error (a bad token included)
    healthz_api = kfp_server_api.HealthzServiceApi(kfp_server_api.ApiClient(configuration))
    with _kfp_call(f"checking {host}"):
        health = healthz_api.healthz_service_get_healthz(_request_timeout=HEALTHZ_TIMEOUT_SECONDS)
    if health.multi_user and not namespace:
        raise SubmitError(
            f"{host} is a multi-user Kubeflow: pass --namespace (your profile namespace)"
        )
    with warnings.catch_warnings(), _kfp_call(f"connecting to {host}"):
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2+"
        if namespace:
            return kfp.Client(host=host, namespace=namespace, existing_token=token)
        return kfp.Client(host=host, existing_token=token)


def ui_url(host: str, kind: str, object_id: str) -> str:
    """The KFP UI page of a run (``runs``) or recurring run (``recurringrun``)."""
    base = (os.environ.get(UI_HOST_ENV) or host).rstrip("/")
    return f"{base}/#/{kind}/details/{object_id}"


@dataclass(frozen=True)
class PipelineVersionRef:
    pipeline_name: str
    pipeline_id: str
    version_id: str
    version_name: str
    uploaded: bool  # False: an existing version with this content was reused


def _version_description(compiled: CompiledPipeline) -> str:
    return f"compiled by vlaa; sha256 {compiled.sha256}"


def _find_version(client: kfp.Client, pipeline_id: str, version_name: str) -> Any | None:
    """The pipeline's version named ``version_name``, looking through every page."""
    name_filter = json.dumps(
        {
            "predicates": [
                {"operation": "EQUALS", "key": "display_name", "stringValue": version_name}
            ]
        }
    )
    page_token = ""
    while True:
        page = client.list_pipeline_versions(
            pipeline_id, page_token=page_token, page_size=100, filter=name_filter
        )
        for version in page.pipeline_versions or []:
            # compared here too: a server that ignores the filter still gives a right answer
            if version_name in (version.display_name, version.name):
                return version
        page_token = page.next_page_token or ""
        if not page_token:
            return None


def ensure_pipeline_version(
    client: kfp.Client,
    pipeline_name: str,
    version_name: str | None = None,
    compiled: CompiledPipeline | None = None,
) -> PipelineVersionRef:
    """The server's version of ``pipeline_name`` holding the current code, uploaded if needed.

    The version is named ``<pipeline>-<sha256 prefix>`` unless ``version_name`` is given, so
    submitting unchanged code reuses it. An existing version of a given name is reused only if
    it holds the same compiled pipeline (its description carries the hash).
    """
    if compiled is None:
        with tempfile.TemporaryDirectory() as directory:
            compiled = compile_for_upload(pipeline_name, Path(directory))
            return ensure_pipeline_version(client, pipeline_name, version_name, compiled)
    name = version_name or compiled.default_version_name
    with _kfp_call(f"looking up pipeline {pipeline_name}"):
        pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline = kfp_server_api.V2beta1Pipeline(
            name=pipeline_name,
            display_name=pipeline_name,
            description=f"{pipeline_name}, uploaded by vlaa submit",
        )
        with _kfp_call(f"creating pipeline {pipeline_name}"):
            pipeline_id = client.pipelines.pipeline_service_create_pipeline(pipeline).pipeline_id
    else:
        with _kfp_call(f"listing versions of {pipeline_name}"):
            existing = _find_version(client, pipeline_id, name)
        if existing is not None:
            if compiled.sha256 not in (existing.description or ""):
                raise SubmitError(
                    f"pipeline {pipeline_name} already has a version {name!r} with other "
                    "content; pick a new --version, or leave it out to name the version "
                    "after the content hash"
                )
            return PipelineVersionRef(
                pipeline_name, pipeline_id, existing.pipeline_version_id, name, False
            )
    with _kfp_call(f"uploading version {name} of {pipeline_name}"):
        uploaded = client.upload_pipeline_version(
            str(compiled.path),
            pipeline_version_name=name,
            pipeline_id=pipeline_id,
            description=_version_description(compiled),
        )
    return PipelineVersionRef(pipeline_name, pipeline_id, uploaded.pipeline_version_id, name, True)


def ensure_experiment(client: kfp.Client, name: str, namespace: str | None = None) -> str:
    """The id of experiment ``name``, created if it does not exist."""
    with _kfp_call(f"getting or creating experiment {name}"):
        return client.create_experiment(name, namespace=namespace).experiment_id


@dataclass(frozen=True)
class SubmittedRun:
    run_id: str
    run_name: str
    experiment_id: str
    state: str | None


def default_run_name(pipeline_name: str) -> str:
    return f"{pipeline_name}-{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M%S}"


def submit_run(
    client: kfp.Client,
    version: PipelineVersionRef,
    arguments: Mapping[str, Any],
    experiment: str,
    run_name: str | None = None,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    namespace: str | None = None,
) -> SubmittedRun:
    """Start one run of ``version`` in ``experiment`` (created if missing)."""
    experiment_id = ensure_experiment(client, experiment, namespace)
    name = run_name or default_run_name(version.pipeline_name)
    with _kfp_call(f"creating run {name}"):
        run = client.run_pipeline(
            experiment_id=experiment_id,
            job_name=name,
            params=dict(arguments),
            pipeline_id=version.pipeline_id,
            version_id=version.version_id,
            service_account=service_account or None,
        )
    return SubmittedRun(run.run_id, name, experiment_id, run.state)


def wait_for_run(
    client: kfp.Client, run_id: str, timeout_seconds: float, poll_seconds: float = 15.0
) -> str:
    """Poll the run until it ends; return its final state.

    Not ``kfp.Client.wait_for_run_completion``: its list of final states lacks CANCELED, so a
    cancelled run would be waited on until the timeout.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        with _kfp_call(f"reading run {run_id}"):
            state = str(client.get_run(run_id).state or "PENDING").upper()
        if state in TERMINAL_RUN_STATES:
            return state
        if time.monotonic() + poll_seconds > deadline:
            raise SubmitError(
                f"run {run_id} is still {state} after {timeout_seconds:.0f} s; it goes on on "
                "the server (see its page in the KFP UI)"
            )
        time.sleep(poll_seconds)


@dataclass(frozen=True)
class ScheduledRun:
    recurring_run_id: str
    name: str
    experiment_id: str
    cron: str


def schedule_run(
    client: kfp.Client,
    version: PipelineVersionRef,
    arguments: Mapping[str, Any],
    experiment: str,
    cron: str,
    name: str | None = None,
    max_concurrency: int = 1,
    catchup: bool = False,
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
    enabled: bool = True,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    namespace: str | None = None,
) -> ScheduledRun:
    """Create a recurring run of ``version`` on a six-field cron schedule.

    No catch-up by default: after a pause the scheduler starts only the latest missed run,
    not one training run per missed slot.
    """
    cron = check_schedule(cron, max_concurrency, start, end)
    experiment_id = ensure_experiment(client, experiment, namespace)
    name = name or f"{version.pipeline_name}-recurring"
    with _kfp_call(f"creating recurring run {name}"):
        recurring = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=name,
            description=f"{version.pipeline_name} {version.version_name}, cron {cron}",
            start_time=start.isoformat() if start else None,
            end_time=end.isoformat() if end else None,
            cron_expression=cron,
            max_concurrency=max_concurrency,
            no_catchup=not catchup,
            params=dict(arguments),
            pipeline_id=version.pipeline_id,
            version_id=version.version_id,
            enabled=enabled,
            service_account=service_account or None,
        )
    return ScheduledRun(recurring.recurring_run_id, name, experiment_id, cron)
