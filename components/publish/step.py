"""Gated, atomic model publishing (DESIGN.md, "Failure behaviour").

Layout in the store, under the model's name::

    <model_name>/versions/v0001/...            every file of the model folder
    <model_name>/versions/v0001/README.md      Hugging Face model card (generated)
    <model_name>/versions/v0001/inference_service.yaml  KServe manifest (serving: kserve-vllm)
    <model_name>/versions/v0001/manifest.json  written LAST: files, sizes, sha256, lineage
    <model_name>/aliases/latest.json           {"version": "v0001", ...}; only when promoted

The store is a local folder or ``s3://bucket/prefix`` (MinIO / any S3 endpoint, see
:mod:`vlaa.storage.s3`). A version is complete (and listed) only once its manifest exists, so
a crash mid-upload leaves an invisible folder. A retry of the same publish resumes that
folder: when the highest version folder has no manifest and every object in it is a file of
this publish with the same SHA-256, the number is reused and only the missing files are
uploaded (the result is byte-for-byte what an uninterrupted publish writes). Leftovers that
differ from this publish are never mixed with it: numbering then continues after them, and
the gap shows that something failed. A complete version is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from vlaa.errors import UserError
from vlaa.storage import ObjectNotFoundError, ObjectStore, StoreError, file_sha256, open_store

logger = logging.getLogger(__name__)

DEFAULT_STORE_URI = "runs/registry"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
VERSION_RE = re.compile(r"v(\d{4,})")
MANIFEST = "manifest.json"
MODEL_CARD = "README.md"
INFERENCE_SERVICE = "inference_service.yaml"
GENERATED_FILES = (MODEL_CARD, INFERENCE_SERVICE, MANIFEST)
MANIFEST_FORMAT = 1
WEIGHTS_GLOB = "*.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Trainer output folders hold resumable checkpoints (optimizer states) beside the final model;
# they are not part of the published model.
SKIPPED_TOP_LEVEL_DIRS = re.compile(r"checkpoint-\d+|runs|\..*")
REDACTED = "<redacted>"
DEFAULT_LICENSE = "apache-2.0"
CARD_TAGS = ["vlaa-thinking", "vision-language", "reasoning", "kubeflow-pipelines"]


class PublishError(UserError, RuntimeError):
    """Publishing was refused or failed; the message says why."""


class ModelFolderError(PublishError, ValueError):
    """The model folder lacks what a usable model needs."""


class VersionExistsError(PublishError):
    """The target version already holds files; versions are never overwritten."""


class PublishStoreError(PublishError):
    """The model store failed (unreachable, credentials, bucket); nothing became visible."""


class PublishConfig(BaseModel):
    """Where and under which name to publish, and the promotion gate."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    store_uri: str = Field(
        DEFAULT_STORE_URI,
        min_length=1,
        description="Local folder, file:// or s3://bucket/prefix (endpoint and keys from env).",
    )
    model_name: str = Field("vlaa-thinker-tiny", pattern=NAME_PATTERN)
    gate_min_accuracy: float | None = Field(
        None, ge=0, description="Promote only if metrics['accuracy'] >= this; None = no check."
    )
    gate_min_average_delta: float | None = Field(
        None,
        description="Promote only if the average score >= the base model's average + this "
        "margin (may be negative); None = no check.",
    )
    gate_floors: dict[str, float] = Field(
        default_factory=dict,
        description="Per-metric minimums, e.g. {'accuracy_mathvista': 0.5}; all must hold.",
    )
    alias: str = Field("latest", pattern=NAME_PATTERN)
    serving: Literal["none", "kserve-vllm"] = Field(
        "none", description="Also write a KServe InferenceService (vLLM) into the version."
    )
    serving_service_account: str | None = Field(
        None, description="ServiceAccount whose Secret gives KServe read access to the store."
    )
    serving_gpus: int = Field(1, ge=0, description="GPUs per serving replica.")


class PublishResult(BaseModel):
    """What was published and whether the alias now points at it."""

    version: str
    uri: str
    promoted: bool
    reason: str
    gate: dict[str, Any] = Field(default_factory=dict)
    resumed: bool = False
    files: list[str] = Field(default_factory=list)


# ----------------------------------------------------------------------------- keys


def version_name(number: int) -> str:
    return f"v{number:04d}"


def versions_prefix(model_name: str) -> str:
    return f"{model_name}/versions/"


def version_prefix(model_name: str, version: str) -> str:
    return f"{versions_prefix(model_name)}{version}/"


def alias_key(model_name: str, alias: str) -> str:
    return f"{model_name}/aliases/{alias}.json"


def _version_folders(store: ObjectStore, model_name: str) -> dict[str, set[str]]:
    """Version folder name -> the keys under it, relative to the folder."""
    prefix = versions_prefix(model_name)
    folders: dict[str, set[str]] = {}
    for key in store.list(prefix):
        version, _, rest = key[len(prefix) :].partition("/")
        if VERSION_RE.fullmatch(version) and rest:
            folders.setdefault(version, set()).add(rest)
    return folders


def list_versions(store: ObjectStore, model_name: str) -> list[str]:
    """Complete versions (those with a manifest), oldest first."""
    folders = _version_folders(store, model_name)
    complete = [version for version, keys in folders.items() if MANIFEST in keys]
    return sorted(complete, key=lambda version: int(version[1:]))


def next_version(store: ObjectStore, model_name: str) -> str:
    """The number after the highest one present, counting incomplete versions too."""
    numbers = [int(version[1:]) for version in _version_folders(store, model_name)]
    return version_name(max(numbers, default=0) + 1)


def resolve_alias(store: ObjectStore, model_name: str, alias: str) -> str | None:
    """The version an alias points at, or ``None`` if the alias was never written."""
    try:
        record = json.loads(store.get_bytes(alias_key(model_name, alias)))
    except ObjectNotFoundError:
        return None
    version = record["version"]
    if not store.exists(version_prefix(model_name, version) + MANIFEST):
        raise PublishError(f"alias {alias!r} of {model_name!r} points at incomplete {version}")
    return version


def verify_version(store: ObjectStore, model_name: str, version: str) -> dict[str, Any]:
    """Re-read a version and check every file against its manifest; return the manifest."""
    prefix = version_prefix(model_name, version)
    try:
        manifest = json.loads(store.get_bytes(prefix + MANIFEST))
    except ObjectNotFoundError as error:
        raise PublishError(f"{model_name} {version} is not a complete version") from error
    for entry in manifest["files"]:
        data = store.get_bytes(prefix + entry["path"])
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise PublishError(f"{model_name} {version}: {entry['path']} fails its checksum")
    return manifest


# ----------------------------------------------------------------------------- model folder


def check_model_dir(model_dir: Path) -> None:
    """Refuse a folder without weights or without a tokenizer / processor."""
    if not model_dir.is_dir():
        raise ModelFolderError(f"model folder {model_dir} does not exist or is not a folder")
    missing = []
    if not any(model_dir.glob(WEIGHTS_GLOB)):
        missing.append(f"weights ({WEIGHTS_GLOB})")
    if not any((model_dir / name).is_file() for name in TOKENIZER_FILES):
        missing.append(f"tokenizer / processor ({' or '.join(TOKENIZER_FILES)})")
    if missing:
        raise ModelFolderError(
            f"model folder {model_dir} cannot be published: missing " + ", ".join(missing)
        )


def model_files(model_dir: Path) -> Iterator[tuple[str, Path]]:
    """(relative key, path) of every file to upload, in a stable order.

    The generated card and manifest replace any ``README.md`` / ``manifest.json`` the
    trainer left; checkpoints, TensorBoard runs and hidden folders are not part of a model.
    """
    for path in sorted(model_dir.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(model_dir)
        if len(relative.parts) > 1 and SKIPPED_TOP_LEVEL_DIRS.fullmatch(relative.parts[0]):
            continue
        if relative.as_posix() in (MODEL_CARD, MANIFEST):
            continue
        yield relative.as_posix(), path


# ----------------------------------------------------------------------------- secrets

_SECRET_WORD_ENDINGS = ("key", "secret", "token", "password", "passwd")
_SECRET_SUBSTRINGS = ("secret", "password", "passwd", "credential")
_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def looks_secret(name: str) -> bool:
    """Whether a config key names a secret: ``api_key``, ``hfToken``, ``aws_secret_access_key``.

    Matching is per word, so ``max_new_tokens`` and ``tokenizer`` are not secrets.
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    words = [word for word in re.split(r"[^a-z0-9]+", spaced) if word]
    return any(
        word.endswith(_SECRET_WORD_ENDINGS) or any(s in word for s in _SECRET_SUBSTRINGS)
        for word in words
    )


def scrub(value: Any) -> Any:
    """A JSON-safe copy with secret-looking entries redacted.

    A secret-looking key has its value replaced unless the value is a number, boolean or
    null (``eos_token_id: 2`` is not a credential). Credentials embedded in URLs
    (``s3://user:pass@host``) are removed from every string.
    """
    if isinstance(value, dict):
        return {str(key): _scrub_entry(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [scrub(item) for item in value]
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return _URL_USERINFO.sub(r"\1" + REDACTED + "@", str(value))


def _scrub_entry(key: str, value: Any) -> Any:
    if looks_secret(key) and not (isinstance(value, bool | int | float) or value is None):
        return REDACTED
    return scrub(value)


# ----------------------------------------------------------------------------- gate


SCORE_NAME = re.compile(r"accuracy(_[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (booleans and NaN are not scores)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def scores(metrics: dict[str, Any]) -> dict[str, float]:
    """Metrics that are scores: numeric ``accuracy`` and ``accuracy_<benchmark>``."""
    found = {}
    for name, value in metrics.items():
        number = _number(value)
        if number is not None and SCORE_NAME.fullmatch(str(name)):
            found[str(name)] = number
    return found


def average_score(metrics: dict[str, Any]) -> float | None:
    """The ``accuracy`` metric if present, else the mean of the ``accuracy_*`` scores."""
    found = scores(metrics)
    if "accuracy" in found:
        return found["accuracy"]
    return sum(found.values()) / len(found) if found else None


class GateDecision(BaseModel):
    """The promotion decision: every configured check, and the reason in words."""

    passed: bool
    reason: str
    checks: list[dict[str, Any]] = Field(default_factory=list)
    average: float | None = None
    base_average: float | None = None


def _check(name: str, passed: bool, message: str, **values: Any) -> dict[str, Any]:
    return {"check": name, "passed": passed, "message": message, **values}


def gate_decision(
    config: PublishConfig, metrics: dict[str, Any], base_metrics: dict[str, Any] | None = None
) -> GateDecision:
    """Whether to promote: all configured checks must pass (none configured = promote)."""
    alias = config.alias
    base_metrics = base_metrics or {}
    average, base_average = average_score(metrics), average_score(base_metrics)
    checks = []
    threshold = config.gate_min_accuracy
    if threshold is not None:
        accuracy = metrics.get("accuracy")
        value = _number(accuracy)
        if isinstance(accuracy, bool) or not isinstance(accuracy, int | float):
            checks.append(
                _check(
                    "min_accuracy",
                    False,
                    f"metrics have no numeric 'accuracy', so the gate (>= {threshold}) cannot pass",
                )
            )
        elif value is None or value < threshold:
            checks.append(
                _check(
                    "min_accuracy",
                    False,
                    f"accuracy {accuracy} is below the gate {threshold}",
                    value=value,
                )
            )
        else:
            checks.append(
                _check(
                    "min_accuracy", True, f"accuracy {accuracy} >= gate {threshold}", value=value
                )
            )
    delta = config.gate_min_average_delta
    if delta is not None:
        if average is None or base_average is None:
            missing = "this model's" if average is None else "the base model's"
            checks.append(
                _check(
                    "min_average_delta",
                    False,
                    f"{missing} eval report has no accuracy scores, so the average cannot be "
                    f"compared with the base model's + {delta}",
                )
            )
        else:
            needed = base_average + delta
            ok = average >= needed - 1e-12
            relation = ">=" if ok else "is below"
            checks.append(
                _check(
                    "min_average_delta",
                    ok,
                    f"average score {average:.4g} {relation} base model's {base_average:.4g} "
                    f"+ margin {delta:g} = {needed:.4g}",
                    value=average,
                    needed=needed,
                )
            )
    numeric = dict(_numeric_metrics(metrics))
    for name, floor in sorted(config.gate_floors.items()):
        value = _number(numeric.get(name))
        if value is None:
            checks.append(
                _check(f"floor:{name}", False, f"metric {name!r} is missing (floor {floor:g})")
            )
        else:
            ok = value >= floor
            relation = ">=" if ok else "is below its floor"
            checks.append(
                _check(f"floor:{name}", ok, f"{name} {value:.4g} {relation} {floor:g}", value=value)
            )
    if not checks:
        reason = f"no gate configured; promoted to alias {alias!r}"
        return GateDecision(passed=True, reason=reason, average=average, base_average=base_average)
    passed = all(check["passed"] for check in checks)
    if passed:
        reason = "; ".join(c["message"] for c in checks) + f"; promoted to alias {alias!r}"
    else:
        failed = "; ".join(c["message"] for c in checks if not c["passed"])
        reason = f"{failed}; published but not promoted (alias {alias!r} unchanged)"
    return GateDecision(
        passed=passed, reason=reason, checks=checks, average=average, base_average=base_average
    )


# ----------------------------------------------------------------------------- model card


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Scalar leaves of nested dicts as ("a.b", value)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _numeric_metrics(metrics: dict[str, Any]) -> list[tuple[str, float]]:
    return [
        (name, value)
        for name, value in _flatten(metrics)
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def _cell(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[tuple[str, Any]], header: tuple[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {_cell(name)} | {_cell(value)} |" for name, value in rows]
    return "\n".join(lines)


def _front_matter(
    model_name: str, metrics: dict[str, Any], data_card: dict[str, Any], lineage: dict[str, Any]
) -> dict[str, Any]:
    front: dict[str, Any] = {
        "license": lineage.get("license", DEFAULT_LICENSE),
        "library_name": "transformers",
        "pipeline_tag": "image-text-to-text",
        "tags": CARD_TAGS + [str(lineage[k]) for k in ("stage", "arm") if lineage.get(k)],
    }
    if lineage.get("base_model"):
        front["base_model"] = str(lineage["base_model"])
    numeric = _numeric_metrics(metrics)
    if numeric:
        dataset = str(data_card.get("name", "vlaa-thinking-eval"))
        front["model-index"] = [
            {
                "name": model_name,
                "results": [
                    {
                        "task": {"type": "image-text-to-text", "name": "Visual reasoning"},
                        "dataset": {"name": dataset, "type": dataset},
                        "metrics": [
                            {"type": name, "name": name, "value": value} for name, value in numeric
                        ],
                    }
                ],
            }
        ]
    return front


def _data_section(data_card: dict[str, Any]) -> str:
    markdown = data_card.get("markdown")
    if isinstance(markdown, str) and markdown.strip():
        return markdown.strip()
    rows = [(name, value) for name, value in _flatten(data_card) if name != "markdown"]
    return _table(rows, ("field", "value")) if rows else "No data card was provided."


def _evaluation_section(metric_rows: list[tuple[str, Any]], base: dict[str, Any]) -> str:
    if not metric_rows:
        return "No metrics were recorded."
    if not base:
        return _table(metric_rows, ("metric", "value"))
    base_values = dict(_flatten(base))
    lines = ["| metric | this model | base model |", "|---|---|---|"]
    for name, value in metric_rows:
        before = base_values.get(name, "")
        lines.append(f"| {_cell(name)} | {_cell(value)} | {_cell(before)} |")
    return "\n".join(lines)


def _gate_section(checks: list[dict[str, Any]]) -> str:
    rows = [(c["check"], ("pass: " if c["passed"] else "FAIL: ") + c["message"]) for c in checks]
    return _table(rows, ("gate check", "result"))


def _lineage_section(lineage: dict[str, Any]) -> str:
    known = {
        "pipeline run id": lineage.get("pipeline_run_id", lineage.get("run_id")),
        "code version": lineage.get("code_version"),
        "dataset hash": lineage.get("dataset_hash"),
        "base model": lineage.get("base_model"),
    }
    rows = [(name, "not recorded" if value is None else value) for name, value in known.items()]
    shown = {"pipeline_run_id", "run_id", "code_version", "dataset_hash", "base_model"}
    rows += [(name, value) for name, value in _flatten(lineage) if name not in shown]
    return _table(rows, ("item", "value"))


def render_model_card(
    model_name: str,
    version: str,
    gate_reason: str,
    metrics: dict[str, Any],
    train_config: dict[str, Any],
    data_card: dict[str, Any],
    lineage: dict[str, Any],
    base_metrics: dict[str, Any] | None = None,
    gate_checks: list[dict[str, Any]] | None = None,
) -> str:
    """A Hugging Face model card (YAML front matter + markdown) from already-scrubbed inputs."""
    front = yaml.safe_dump(
        _front_matter(model_name, metrics, data_card, lineage), sort_keys=False, allow_unicode=True
    )
    metric_rows = list(_flatten(metrics))
    config_yaml = yaml.safe_dump(train_config, sort_keys=True, allow_unicode=True).strip()
    sections = [
        f"---\n{front}---",
        f"# {model_name} ({version})",
        "A vision-language reasoning model trained by the VLAA-Thinker pipeline (SFT and/or "
        "GRPO with the mixed reward of the VLAA-Thinking study). It reasons inside "
        "`<think> </think>` and answers inside `<answer> </answer>`.",
        "## Evaluation",
        _evaluation_section(metric_rows, base_metrics or {}),
        f"Promotion gate: {gate_reason}.",
        *([_gate_section(gate_checks)] if gate_checks else []),
        "## Training configuration",
        f"```yaml\n{config_yaml}\n```",
        "## Data",
        _data_section(data_card),
        "## Lineage",
        _lineage_section(lineage),
        "## Secrets",
        "Secrets (object-store keys, API keys, tokens, passwords) come from the environment or "
        "Kubernetes Secrets and are never recorded in this card or the manifest: configuration "
        f"entries that look secret are replaced by `{REDACTED}`.",
    ]
    return "\n\n".join(sections) + "\n"


# ----------------------------------------------------------------------------- publishing


class PlannedFile(BaseModel):
    """One file of the model folder to upload, with its checksum."""

    path: str
    local: Path
    size: int
    sha256: str


def plan_files(model_dir: Path) -> list[PlannedFile]:
    """Every file to upload with its size and SHA-256 (one read of each file)."""
    planned = []
    for relative, path in model_files(model_dir):
        sha256, size = file_sha256(path)
        planned.append(PlannedFile(path=relative, local=path, size=size, sha256=sha256))
    return planned


def stored_sha256(store: ObjectStore, key: str) -> str | None:
    """An object's SHA-256: from the store if it can tell (metadata), else by reading it."""
    method = getattr(store, "sha256", None)
    if callable(method):
        return method(key)
    try:
        return hashlib.sha256(store.get_bytes(key)).hexdigest()
    except ObjectNotFoundError:
        return None


def leftovers_match(
    store: ObjectStore, model_name: str, version: str, planned: list[PlannedFile]
) -> bool:
    """Whether an incomplete version holds only files of this publish, byte-identical.

    Generated files (card, KServe manifest) are rewritten, so they need not match.
    """
    prefix = version_prefix(model_name, version)
    wanted = {entry.path: entry.sha256 for entry in planned}
    for key in store.list(prefix):
        relative = key[len(prefix) :]
        if relative == MANIFEST:
            return False
        if relative in GENERATED_FILES:
            continue
        if relative not in wanted or stored_sha256(store, key) != wanted[relative]:
            return False
    return True


def write_version(
    store: ObjectStore,
    model_name: str,
    version: str,
    model_dir: Path,
    card: str,
    record: dict[str, Any],
    *,
    resume: bool = False,
    extra_files: dict[str, bytes] | None = None,
    planned: list[PlannedFile] | None = None,
) -> dict[str, Any]:
    """Upload the model's files, card and extra files, then the manifest; return the manifest.

    Refuses a complete version (never overwritten). An incomplete one is refused too unless
    ``resume`` is set and it holds only byte-identical files of this publish; those are not
    uploaded again.
    """
    prefix = version_prefix(model_name, version)
    if store.exists(prefix + MANIFEST):
        raise VersionExistsError(f"{model_name} {version} already exists; versions are immutable")
    planned = plan_files(model_dir) if planned is None else planned
    present = set(store.list(prefix))
    if present and not resume:
        raise VersionExistsError(
            f"{model_name} {version} holds files from an interrupted upload; publish a new version"
        )
    if present and not leftovers_match(store, model_name, version, planned):
        raise VersionExistsError(
            f"{model_name} {version} holds files of a different upload; publish a new version"
        )
    entries = []
    for entry in planned:
        if prefix + entry.path not in present:  # present ones were checked byte-identical
            store.put_file(prefix + entry.path, entry.local, sha256=entry.sha256)
        entries.append({"path": entry.path, "size": entry.size, "sha256": entry.sha256})
    generated = {**(extra_files or {}), MODEL_CARD: card.encode("utf-8")}
    for relative, data in sorted(generated.items()):
        store.put_bytes(prefix + relative, data)
        entries.append(
            {"path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
    manifest = {
        "format": MANIFEST_FORMAT,
        "model_name": model_name,
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": entries,
        **record,
    }
    if store.exists(prefix + MANIFEST):  # another publisher completed this number meanwhile
        raise VersionExistsError(f"{model_name} {version} was completed by another publisher")
    store.put_bytes(prefix + MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
    return manifest


def write_alias(store: ObjectStore, model_name: str, alias: str, version: str, uri: str) -> None:
    """Point ``alias`` at ``version`` (one atomic put)."""
    record = {
        "model_name": model_name,
        "alias": alias,
        "version": version,
        "uri": uri,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.put_bytes(alias_key(model_name, alias), json.dumps(record, indent=2).encode("utf-8"))


def _join_uri(store_uri: str, key: str) -> str:
    return f"{store_uri.rstrip('/')}/{key.rstrip('/')}"


# ----------------------------------------------------------------------------- serving


def serving_name(model_name: str, version: str) -> str:
    """A Kubernetes (DNS-1035) name for the version: lowercase, '-', at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{model_name}-{version}".lower()).strip("-")
    if not name[:1].isalpha():
        name = f"m-{name}"
    return name[:63].rstrip("-")


def render_inference_service(config: PublishConfig, version: str, uri: str) -> str:
    """A KServe ``InferenceService`` serving the version with the Hugging Face runtime on vLLM.

    KServe's storage initializer copies ``storageUri`` (the version folder) to /mnt/models; S3
    credentials and endpoint come from the ServiceAccount's Secret, never from this file.
    """
    gpus = str(config.serving_gpus)
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": "4", "memory": "24Gi"},
        "limits": {"cpu": "8", "memory": "32Gi"},
    }
    if config.serving_gpus:
        resources["requests"]["nvidia.com/gpu"] = gpus
        resources["limits"]["nvidia.com/gpu"] = gpus
    predictor: dict[str, Any] = {
        "model": {
            "modelFormat": {"name": "huggingface"},
            "runtime": "kserve-huggingfaceserver",
            "storageUri": uri,
            "args": [
                f"--model_name={config.model_name}",
                "--model_dir=/mnt/models",
                "--backend=vllm",
                f"--tensor-parallel-size={max(1, config.serving_gpus)}",
            ],
            "resources": resources,
        }
    }
    if config.serving_service_account:
        predictor = {"serviceAccountName": config.serving_service_account, **predictor}
    document = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": serving_name(config.model_name, version),
            "labels": {
                "app.kubernetes.io/part-of": "vlaa-thinker",
                "vlaa.io/model": serving_name(config.model_name, "")[:63],
                "vlaa.io/version": version,
            },
            "annotations": {"vlaa.io/model-uri": uri},
        },
        "spec": {"predictor": predictor},
    }
    return yaml.safe_dump(document, sort_keys=False)


# ----------------------------------------------------------------------------- publishing


def code_version() -> str:
    """``VLAA_CODE_VERSION`` (set by CI / the image build), else the git commit, else the
    package version."""
    from_env = os.environ.get("VLAA_CODE_VERSION")
    if from_env:
        return from_env
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    from vlaa import __version__

    return f"git:{commit}" if commit else f"vlaa-thinker {__version__}"


def choose_version(
    store: ObjectStore, model_name: str, planned: list[PlannedFile]
) -> tuple[str, bool]:
    """(version, resume): the interrupted highest version if this publish can resume it,
    else the next number."""
    candidate = next_version(store, model_name)
    number = int(candidate[1:]) - 1
    if number >= 1:
        previous = version_name(number)
        prefix = version_prefix(model_name, previous)
        present = store.list(prefix)
        if (
            present
            and prefix + MANIFEST not in present
            and leftovers_match(store, model_name, previous, planned)
        ):
            return previous, True
    return candidate, False


def publish(
    model_dir: Path,
    config: PublishConfig,
    metrics: dict[str, Any],
    train_config: dict[str, Any],
    data_card: dict[str, Any],
    lineage: dict[str, Any],
    base_metrics: dict[str, Any] | None = None,
) -> PublishResult:
    """Publish ``model_dir`` as the next version; promote it to the alias if it passes the gate.

    A failing model is still published (for comparison and audit) but never promoted. A
    failure of the store raises :class:`PublishStoreError` and leaves nothing visible; running
    the same publish again resumes the interrupted version.
    """
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    try:
        store = open_store(config.store_uri)
    except (StoreError, ValueError) as error:
        raise PublishStoreError(f"publish.store_uri: {error}") from error
    metrics, train_config = scrub(metrics), scrub(train_config)
    data_card, lineage = scrub(data_card), scrub(lineage)
    base_metrics = scrub(base_metrics or {})
    decision = gate_decision(config, metrics, base_metrics)
    planned = plan_files(model_dir)
    version = ""
    try:
        version, resumed = choose_version(store, config.model_name, planned)
        uri = _join_uri(config.store_uri, version_prefix(config.model_name, version))
        card = render_model_card(
            config.model_name,
            version,
            decision.reason,
            metrics,
            train_config,
            data_card,
            lineage,
            base_metrics=base_metrics,
            gate_checks=decision.checks,
        )
        extra = {}
        if config.serving == "kserve-vllm":
            extra[INFERENCE_SERVICE] = render_inference_service(config, version, uri).encode()
        gate_record = {
            "min_accuracy": config.gate_min_accuracy,
            "min_average_delta": config.gate_min_average_delta,
            "floors": config.gate_floors,
            **decision.model_dump(),
        }
        record = {
            "lineage": lineage,
            "metrics": metrics,
            "base_metrics": base_metrics,
            "train_config": train_config,
            "gate": gate_record,
        }
        manifest = write_version(
            store,
            config.model_name,
            version,
            model_dir,
            card,
            record,
            resume=resumed,
            extra_files=extra,
            planned=planned,
        )
        if decision.passed:
            write_alias(store, config.model_name, config.alias, version, uri)
    except StoreError as error:
        what = f"{config.model_name} {version}" if version else config.model_name
        raise PublishStoreError(
            f"publishing {what} to {config.store_uri} failed: {error}. Nothing incomplete is "
            "visible (the manifest is written last); run the same publish again to resume it"
        ) from error
    logger.info(
        "published %s %s at %s%s: %s",
        config.model_name,
        version,
        uri,
        " (resumed)" if resumed else "",
        decision.reason,
    )
    return PublishResult(
        version=version,
        uri=uri,
        promoted=decision.passed,
        reason=decision.reason,
        gate=gate_record,
        resumed=resumed,
        files=[entry["path"] for entry in manifest["files"]],
    )
