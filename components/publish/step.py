"""Gated, atomic model publishing (DESIGN.md, "Failure behaviour").

Layout in the store, under the model's name::

    <model_name>/versions/v0001/...            every file of the model folder
    <model_name>/versions/v0001/README.md      Hugging Face model card (generated)
    <model_name>/versions/v0001/manifest.json  written LAST: files, sizes, sha256, lineage
    <model_name>/aliases/latest.json           {"version": "v0001", ...}; only when promoted

A version is complete (and listed) only once its manifest exists, so a crash mid-upload
leaves an invisible folder. Version numbers continue after the highest number present,
complete or not: an interrupted upload's number is never reused, so a retry never mixes
its files with stale leftovers, and the gap in the numbering shows that something failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from vlaa.storage import ObjectNotFoundError, ObjectStore, open_store

logger = logging.getLogger(__name__)

DEFAULT_STORE_URI = "runs/registry"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
VERSION_RE = re.compile(r"v(\d{4,})")
MANIFEST = "manifest.json"
MODEL_CARD = "README.md"
MANIFEST_FORMAT = 1
WEIGHTS_GLOB = "*.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Trainer output folders hold resumable checkpoints (optimizer states) beside the final model;
# they are not part of the published model.
SKIPPED_TOP_LEVEL_DIRS = re.compile(r"checkpoint-\d+|runs|\..*")
REDACTED = "<redacted>"
DEFAULT_LICENSE = "apache-2.0"
CARD_TAGS = ["vlaa-thinking", "vision-language", "reasoning", "kubeflow-pipelines"]


class PublishError(RuntimeError):
    """Publishing was refused or failed; the message says why."""


class ModelFolderError(PublishError, ValueError):
    """The model folder lacks what a usable model needs."""


class VersionExistsError(PublishError):
    """The target version already holds files; versions are never overwritten."""


class PublishConfig(BaseModel):
    """Where and under which name to publish, and the promotion gate."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    store_uri: str = Field(
        DEFAULT_STORE_URI, min_length=1, description="Local folder or file:// URI."
    )
    model_name: str = Field("vlaa-thinker-tiny", pattern=NAME_PATTERN)
    gate_min_accuracy: float | None = Field(
        None, ge=0, description="Promote only if metrics['accuracy'] >= this; None = always."
    )
    alias: str = Field("latest", pattern=NAME_PATTERN)


class PublishResult(BaseModel):
    """What was published and whether the alias now points at it."""

    version: str
    uri: str
    promoted: bool
    reason: str


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


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


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


def gate_decision(config: PublishConfig, metrics: dict[str, Any]) -> tuple[bool, str]:
    """Whether to promote, and the reason in words."""
    alias = config.alias
    threshold = config.gate_min_accuracy
    if threshold is None:
        return True, f"no accuracy gate configured; promoted to alias {alias!r}"
    accuracy = metrics.get("accuracy")
    if isinstance(accuracy, bool) or not isinstance(accuracy, int | float):
        return False, (
            f"metrics have no numeric 'accuracy', so the gate (>= {threshold}) cannot pass; "
            f"published but not promoted (alias {alias!r} unchanged)"
        )
    if not math.isfinite(accuracy) or accuracy < threshold:
        return False, (
            f"accuracy {accuracy} is below the gate {threshold}; "
            f"published but not promoted (alias {alias!r} unchanged)"
        )
    return True, f"accuracy {accuracy} >= gate {threshold}; promoted to alias {alias!r}"


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
        _table(metric_rows, ("metric", "value")) if metric_rows else "No metrics were recorded.",
        f"Promotion gate: {gate_reason}.",
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


def write_version(
    store: ObjectStore,
    model_name: str,
    version: str,
    model_dir: Path,
    card: str,
    record: dict[str, Any],
) -> dict[str, Any]:
    """Upload the model's files and card, then the manifest; return the manifest.

    Refuses a version folder that holds anything: a complete version is never overwritten,
    and an interrupted one is never mixed with new files.
    """
    prefix = version_prefix(model_name, version)
    if store.exists(prefix + MANIFEST):
        raise VersionExistsError(f"{model_name} {version} already exists; versions are immutable")
    if store.list(prefix):
        raise VersionExistsError(
            f"{model_name} {version} holds files from an interrupted upload; publish a new version"
        )
    entries = []
    for relative, path in model_files(model_dir):
        sha256, size = _sha256_file(path)
        store.put_file(prefix + relative, path)
        entries.append({"path": relative, "size": size, "sha256": sha256})
    card_bytes = card.encode("utf-8")
    store.put_bytes(prefix + MODEL_CARD, card_bytes)
    entries.append(
        {
            "path": MODEL_CARD,
            "size": len(card_bytes),
            "sha256": hashlib.sha256(card_bytes).hexdigest(),
        }
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


def publish(
    model_dir: Path,
    config: PublishConfig,
    metrics: dict[str, Any],
    train_config: dict[str, Any],
    data_card: dict[str, Any],
    lineage: dict[str, Any],
) -> PublishResult:
    """Publish ``model_dir`` as the next version; promote it to the alias if it passes the gate.

    A failing model is still published (for comparison and audit) but never promoted.
    """
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    store = open_store(config.store_uri)
    metrics, train_config = scrub(metrics), scrub(train_config)
    data_card, lineage = scrub(data_card), scrub(lineage)
    promoted, reason = gate_decision(config, metrics)
    version = next_version(store, config.model_name)
    card = render_model_card(
        config.model_name, version, reason, metrics, train_config, data_card, lineage
    )
    record = {
        "lineage": lineage,
        "metrics": metrics,
        "train_config": train_config,
        "gate": {"min_accuracy": config.gate_min_accuracy, "passed": promoted, "reason": reason},
    }
    write_version(store, config.model_name, version, model_dir, card, record)
    uri = _join_uri(config.store_uri, version_prefix(config.model_name, version))
    if promoted:
        write_alias(store, config.model_name, config.alias, version, uri)
    logger.info("published %s %s at %s: %s", config.model_name, version, uri, reason)
    return PublishResult(version=version, uri=uri, promoted=promoted, reason=reason)
