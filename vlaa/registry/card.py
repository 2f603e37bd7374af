"""The Hugging Face model card of a version, and the scrubbing of every value it records.

Inputs are scrubbed before they reach the card or the manifest: secret-looking config entries
are redacted and credentials in URLs removed (``scrub``). The card is YAML front matter (license,
tags, ``model-index`` with the numeric metrics) plus Markdown sections: evaluation against the
base model, the promotion gate and its basis, training config, data card, lineage, secrets.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import yaml

REDACTED = "<redacted>"
DEFAULT_LICENSE = "apache-2.0"
# The gate's comparison with the base model, in words (``vlaa.registry.gate.GateBasis``).
BASIS_WORDS = {
    "benchmark_average": "the mean headline score over the paper's benchmarks",
    "accuracy": "accuracy on the synthetic eval split",
}
CARD_TAGS = ["vlaa-thinking", "vision-language", "reasoning", "kubeflow-pipelines"]


# ----------------------------------------------------------------------------- secrets

_SECRET_WORD_ENDINGS = ("key", "secret", "token", "password", "passwd")
_SECRET_SUBSTRINGS = ("secret", "password", "passwd", "credential")
# user[:password]@ after a scheme; registry://NAME@VERSION (a base model, vlaa.modeling.sources)
# carries a model name there, never credentials.
_URL_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.-])(?!registry://)([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@"
)


def looks_secret(name: str) -> bool:
    """Whether a config key names a secret: ``api_key``, ``hfToken``, ``aws_secret_access_key``.

    Matching is per word, so ``max_new_tokens`` and ``tokenizer`` are not secrets.
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    words = [word for word in re.split(r"[^a-z0-9]+", spaced) if word]
    if words in (["key"], ["keys"]):
        return False  # a bare `key` names something (a toleration's `nvidia.com/gpu`), not a secret
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


# ----------------------------------------------------------------------------- model card


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Scalar leaves of nested dicts as ("a.b", value)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def numeric_leaves(metrics: dict[str, Any]) -> list[tuple[str, float]]:
    """Numeric leaves of (possibly nested) metrics; the card and the gate's floors share it."""
    return [
        (name, value)
        for name, value in flatten(metrics)
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
    numeric = numeric_leaves(metrics)
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
    rows = [(name, value) for name, value in flatten(data_card) if name != "markdown"]
    return _table(rows, ("field", "value")) if rows else "No data card was provided."


def _evaluation_section(metric_rows: list[tuple[str, Any]], base: dict[str, Any]) -> str:
    if not metric_rows:
        return "No metrics were recorded."
    if not base:
        return _table(metric_rows, ("metric", "value"))
    base_values = dict(flatten(base))
    lines = ["| metric | this model | base model |", "|---|---|---|"]
    for name, value in metric_rows:
        before = base_values.get(name, "")
        lines.append(f"| {_cell(name)} | {_cell(value)} | {_cell(before)} |")
    return "\n".join(lines)


def _gate_section(checks: list[dict[str, Any]]) -> str:
    rows = [(c["check"], ("pass: " if c["passed"] else "FAIL: ") + c["message"]) for c in checks]
    return _table(rows, ("gate check", "result"))


def _basis_line(basis: str) -> str:
    what = BASIS_WORDS.get(basis, basis)
    return f"Gate basis: `{basis}` ({what})."


def _training_sections(train_config: dict[str, Any]) -> list[str]:
    """One block per training stage, first stage first: a GRPO record carries the record of
    the model it started from (``init_training``, e.g. the SFT run) and so on down."""
    stages: list[dict[str, Any]] = []
    record: Any = train_config
    while isinstance(record, dict) and record:
        stages.insert(0, {k: v for k, v in record.items() if k != "init_training"})
        record = record.get("init_training")
    sections = []
    for number, stage in enumerate(stages, 1):
        name = str(stage.get("stage", "training")).upper()
        config_yaml = yaml.safe_dump(stage, sort_keys=True, allow_unicode=True).strip()
        title = f"### {number}. {name}" if len(stages) > 1 else ""
        sections.append(f"{title}\n\n```yaml\n{config_yaml}\n```".strip())
    return sections or ["```yaml\n{}\n```"]


def _lineage_section(lineage: dict[str, Any]) -> str:
    known = {
        "pipeline run id": lineage.get("pipeline_run_id", lineage.get("run_id")),
        "code version": lineage.get("code_version"),
        "dataset hash": lineage.get("dataset_hash"),
        "base model": lineage.get("base_model"),
    }
    rows = [(name, "not recorded" if value is None else value) for name, value in known.items()]
    shown = {"pipeline_run_id", "run_id", "code_version", "dataset_hash", "base_model"}
    rows += [(name, value) for name, value in flatten(lineage) if name not in shown]
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
    gate_basis: str | None = None,
) -> str:
    """A Hugging Face model card (YAML front matter + markdown) from already-scrubbed inputs."""
    front = yaml.safe_dump(
        _front_matter(model_name, metrics, data_card, lineage), sort_keys=False, allow_unicode=True
    )
    metric_rows = list(flatten(metrics))
    sections = [
        f"---\n{front}---",
        f"# {model_name} ({version})",
        "A vision-language reasoning model trained by the VLAA-Thinker pipeline (SFT and/or "
        "GRPO with the mixed reward of the VLAA-Thinking study). It reasons inside "
        "`<think> </think>` and answers inside `<answer> </answer>`.",
        "## Evaluation",
        _evaluation_section(metric_rows, base_metrics or {}),
        f"Promotion gate: {gate_reason}.",
        *([_basis_line(gate_basis)] if gate_basis else []),
        *([_gate_section(gate_checks)] if gate_checks else []),
        "## Training configuration",
        *_training_sections(train_config),
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
