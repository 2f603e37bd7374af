"""The kustomize manifests (manifests/): they build, validate offline against the Kubernetes
schemas (and the subset CRD schemas of tests/support/manifest_tools.py), wire MinIO / KFP / metrics
together consistently, grant least privilege, carry no secret values, and their alerts and
dashboard use only metrics the code emits. Tools: tests/support/manifest_tools.py."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from support.manifest_tools import (
    MANIFESTS,
    PLACEHOLDER,
    dashboard_exprs,
    emitted_metric_names,
    ensure_promtool,
    grafana_query_metric_names,
    grafana_to_promql,
    kubectl_binary,
    kustomize_build,
    kustomize_targets,
    promql_label_names,
    promql_metric_names,
    resource_id,
    run_tool,
    scan_secret_resources,
    scan_text,
    validate_resource,
)

from vlaa.observability.prometheus import LABELS, PUSH_JOB
from vlaa.observability.settings import PORT_ENV, PUSHGATEWAY_ENV
from vlaa.storage.s3 import ACCESS_KEY_VARS, ENDPOINT_VARS, SECRET_KEY_VARS

TARGETS = kustomize_targets()
OVERLAYS = [target for target in TARGETS if target.startswith("overlays/")]
RULE_FILE = MANIFESTS / "components/prometheus-operator/prometheusrule.yaml"
ALERT_TESTS = MANIFESTS / "tests/vlaa-alerts.test.yml"
DASHBOARD = MANIFESTS / "base/grafana/vlaa-training.json"
SCRAPE_CONFIGS = MANIFESTS / "prometheus/scrape-configs.yml"
SECRET_NAME = "vlaa-s3-credentials"
# Reference-only templates of the other MinIO Secrets (never applied).
CREDENTIAL_TEMPLATES = list(
    yaml.safe_load_all((MANIFESTS / "base/minio/credentials-templates.yaml").read_text())
)

REQUIRED_ALERTS = {
    "VlaaKLAboveThreshold",
    "VlaaRewardCollapse",
    "VlaaLossNaN",
    "VlaaStepTimeSlow",
    "VlaaTrainingStalled",
    "VlaaDataBuildDropShareHigh",
}
# Metric names the alert rules may use although vlaa/observability does not emit them.
# Keep each one commented with who emits it; the dashboard gets no such allowance.
NOT_YET_EMITTED = {
    # Data-build record counters, to be emitted by the data build (issue 3):
    # Counter("vlaa_data_records_input", labels run_id/stage/arm) and
    # Counter("vlaa_data_records_dropped", labels run_id/stage/arm/step/reason).
    "vlaa_data_records_input_total",
    "vlaa_data_records_dropped_total",
}
INFRASTRUCTURE_METRICS = {
    # The Pushgateway's own per-group series: when each group (run) last pushed.
    "push_time_seconds",
}
# Labels queries may use: the code's (LABELS; reward_type of the per-type reward gauges; metric
# of vlaa_eval_score, vlaa/observability/evaluation.py) and the target labels Prometheus adds.
ALLOWED_LABELS = {
    *LABELS,
    "reward_type",
    "metric",
    "job",
    "instance",
    "namespace",
    "pod",
    "container",
}
CORE_REQUIRED_KINDS = {
    "StatefulSet",
    "Service",
    "Job",
    "ConfigMap",
    "Deployment",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "PriorityClass",
}
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kubectl() -> str:
    return kubectl_binary()


@pytest.fixture(scope="session")
def promtool() -> str:
    return ensure_promtool()


@pytest.fixture(scope="session")
def builds(kubectl: str) -> dict[str, list[dict[str, Any]]]:
    return {target: kustomize_build(kubectl, target) for target in TARGETS}


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (resource_id(doc), doc["spec"]["template"]["spec"])
        for doc in docs
        if doc["kind"] in {"Deployment", "StatefulSet", "Job", "DaemonSet"}
    ]


def rule_spec() -> dict[str, Any]:
    return yaml.safe_load(RULE_FILE.read_text())["spec"]


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_spec()["groups"] for rule in group["rules"]]


def write_rules(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000))
    return path


# --- build and schemas ---------------------------------------------------------------------


def test_targets_include_dev_and_prod() -> None:
    assert {"overlays/dev", "overlays/prod"} <= set(OVERLAYS)


@pytest.mark.parametrize("target", TARGETS)
def test_kustomize_builds(builds: dict[str, list[dict[str, Any]]], target: str) -> None:
    docs = builds[target]
    kinds = {doc["kind"] for doc in docs}
    assert kinds >= CORE_REQUIRED_KINDS, f"{target} lacks {CORE_REQUIRED_KINDS - kinds}"
    ids = [f"{doc.get('metadata', {}).get('namespace')}/{resource_id(doc)}" for doc in docs]
    assert len(ids) == len(set(ids)), f"duplicate resources in {target}"
    if target in OVERLAYS:
        assert kinds >= OPERATOR_KINDS, f"{target} lacks the Prometheus Operator resources"


@pytest.mark.parametrize("target", TARGETS)
def test_resources_validate_against_schemas(
    builds: dict[str, list[dict[str, Any]]], target: str
) -> None:
    problems = []
    for doc in builds[target]:
        try:
            validate_resource(doc)
        except AssertionError as error:
            problems.append(str(error))
    assert not problems, "\n".join(problems)


def test_operator_resources_validate_against_crd_schemas() -> None:
    # The component cannot build alone; validate its files as written.
    folder = MANIFESTS / "components/prometheus-operator"
    docs = [doc for path in folder.glob("*.yaml") for doc in yaml.safe_load_all(path.read_text())]
    docs = [doc for doc in docs if doc and doc.get("kind") in OPERATOR_KINDS]
    assert {doc["kind"] for doc in docs} == OPERATOR_KINDS
    for doc in docs:
        validate_resource(doc)


def test_validators_reject_invalid_resources(builds: dict[str, list[dict[str, Any]]]) -> None:
    """The validators are not vacuous: a misspelt field fails core and CRD kinds alike."""
    docs = builds["overlays/prod"]
    deployment = copy.deepcopy(one(docs, "Deployment", "pushgateway"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(AssertionError, match="resource"):
        validate_resource(deployment)
    monitor = copy.deepcopy(one(docs, "PodMonitor", "vlaa-training"))
    monitor["spec"]["podMetricsEndpoints"][0]["intervall"] = "15s"
    with pytest.raises(AssertionError, match="intervall"):
        validate_resource(monitor)
    rule = copy.deepcopy(one(docs, "PrometheusRule", "vlaa-training"))
    rule["spec"]["groups"][0]["rules"][1]["for"] = "ten minutes"
    with pytest.raises(AssertionError, match="does not match"):
        validate_resource(rule)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_resources_live_in_its_namespace(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = builds[overlay]
    namespaces = by_kind(docs, "Namespace")
    assert len(namespaces) == 1
    namespace = namespaces[0]["metadata"]["name"]
    cluster_scoped = {"Namespace", "PriorityClass"}
    for doc in docs:
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"].get("namespace") == namespace, resource_id(doc)
    binding = one(docs, "RoleBinding", "vlaa-pipeline-runner")
    assert all(subject["namespace"] == namespace for subject in binding["subjects"])


def test_overlays_differ_where_they_must(builds: dict[str, list[dict[str, Any]]]) -> None:
    dev, prod = builds["overlays/dev"], builds["overlays/prod"]

    def storage(docs: list[dict[str, Any]]) -> str:
        minio = one(docs, "StatefulSet", "minio")
        return minio["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]

    assert (storage(dev), storage(prod)) == ("10Gi", "500Gi")
    names = {by_kind(d, "PriorityClass")[0]["metadata"]["name"] for d in (dev, prod)}
    assert len(names) == 2, "dev and prod may share a cluster: PriorityClass names must differ"


# --- workloads -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_workloads_are_pinned_bounded_and_unprivileged(
    builds: dict[str, list[dict[str, Any]]], target: str
) -> None:
    for where, spec in pod_specs(builds[target]):
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec.get("automountServiceAccountToken") is False, where
        for container in spec["containers"]:
            image = container["image"]
            name, _, digest = image.partition("@")
            tag = name.rsplit(":", 1)[-1] if ":" in name.split("/")[-1] else ""
            assert tag and tag != "latest", f"{where}: image {image} has no version tag"
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{where}: {image} no digest"
            assert container["resources"]["requests"], where
            assert container["resources"]["limits"]["memory"], where
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where


@pytest.mark.parametrize("target", TARGETS)
def test_services_select_pods_and_ports(
    builds: dict[str, list[dict[str, Any]]], target: str
) -> None:
    docs = builds[target]
    workloads = [doc for doc in docs if doc["kind"] in {"Deployment", "StatefulSet"}]
    for service in by_kind(docs, "Service"):
        selector = service["spec"]["selector"]
        matches = [
            w
            for w in workloads
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert matches, f"{resource_id(service)} selects no workload"
        ports = {
            port["name"]
            for w in matches
            for container in w["spec"]["template"]["spec"]["containers"]
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{resource_id(service)} port {port['name']}"
    minio = one(docs, "StatefulSet", "minio")
    assert one(docs, "Service", minio["spec"]["serviceName"])["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("target", TARGETS)
def test_references_resolve(builds: dict[str, list[dict[str, Any]]], target: str) -> None:
    """Every Secret / ConfigMap a pod reads exists (the Secret: as the base's template)."""
    docs = builds[target]
    templates = [one(builds["base"], "Secret", SECRET_NAME), *CREDENTIAL_TEMPLATES]
    secret_keys = {t["metadata"]["name"]: set(t["stringData"]) for t in templates}
    config_maps = {doc["metadata"]["name"]: doc for doc in by_kind(docs, "ConfigMap")}
    for where, spec in pod_specs(docs):
        for container in spec["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secret_keys, f"{where}: Secret {ref['name']}"
                    assert ref["key"] in secret_keys[ref["name"]], f"{where}: {ref['key']}"
            for source in container.get("envFrom", []):
                name = source["configMapRef"]["name"]
                assert name in config_maps, f"{where}: ConfigMap {name}"
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, f"{where}: {volume}"


# --- MinIO, KFP launcher, runtime environment ------------------------------------------------


def test_secret_template_has_the_keys_the_code_reads(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    template = one(builds["base"], "Secret", SECRET_NAME)
    assert set(template["stringData"]) == {ACCESS_KEY_VARS[0], SECRET_KEY_VARS[0]}
    assert set(template["stringData"].values()) == {PLACEHOLDER}
    assert "data" not in template


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_never_apply_the_placeholder_secret(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    secrets = by_kind(builds[overlay], "Secret")
    # Only the training launcher's token Secret: the token controller fills it in.
    assert [s["type"] for s in secrets] == ["kubernetes.io/service-account-token"]
    assert not any("data" in s or "stringData" in s for s in secrets)


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_env_points_at_the_services(
    builds: dict[str, list[dict[str, Any]]], target: str
) -> None:
    docs = builds[target]
    env = one(docs, "ConfigMap", "vlaa-runtime-env")["data"]
    services = {doc["metadata"]["name"]: doc for doc in by_kind(docs, "Service")}

    def service_port(url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        assert parts.hostname in services, url
        ports = {port["port"] for port in services[parts.hostname]["spec"]["ports"]}
        assert parts.port in ports, url
        return parts.hostname, parts.port

    assert service_port(env[ENDPOINT_VARS[0]]) == ("minio", 9000)
    assert service_port(env[PUSHGATEWAY_ENV]) == ("pushgateway", 9091)
    assert env[PORT_ENV] == "9400"
    priority_classes = by_kind(docs, "PriorityClass")
    assert [pc["metadata"]["name"] for pc in priority_classes] == [env["VLAA_PRIORITY_CLASS"]]
    assert priority_classes[0]["globalDefault"] is False
    assert not any(key in env for key in (*ACCESS_KEY_VARS, *SECRET_KEY_VARS))


@pytest.mark.parametrize("target", TARGETS)
def test_kfp_launcher_points_the_pipeline_root_at_minio(
    builds: dict[str, list[dict[str, Any]]], target: str
) -> None:
    docs = builds[target]
    launcher = one(docs, "ConfigMap", "kfp-launcher")["data"]
    env = one(docs, "ConfigMap", "vlaa-runtime-env")["data"]
    root = urlsplit(launcher["defaultPipelineRoot"])
    assert (root.scheme, root.hostname, root.path) == (
        "s3",
        env["VLAA_PIPELINE_BUCKET"],
        "/pipeline-root",
    )
    providers = yaml.safe_load(launcher["providers"])
    default = providers["s3"]["default"]
    host, port = default["endpoint"].split(":")
    minio = one(docs, "Service", host)
    assert int(port) in {p["port"] for p in minio["spec"]["ports"]}
    assert default["disableSSL"] is True and default["forcePathStyle"] is True
    credentials = default["credentials"]
    assert credentials["fromEnv"] is False
    assert credentials["secretRef"] == {
        "secretName": SECRET_NAME,
        "accessKeyKey": ACCESS_KEY_VARS[0],
        "secretKeyKey": SECRET_KEY_VARS[0],
    }
    job = one(docs, "Job", "minio-create-buckets")
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "$VLAA_PIPELINE_BUCKET" in script and "$VLAA_MODELS_BUCKET" in script


# --- RBAC ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_rbac_is_least_privilege(builds: dict[str, list[dict[str, Any]]], target: str) -> None:
    docs = builds[target]
    kinds = {doc["kind"] for doc in docs}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, "nothing cluster-wide"
    role = one(docs, "Role", "vlaa-pipeline-runner")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard {field} in {rule}"
        assert not set(rule["verbs"]) & {"escalate", "bind", "impersonate", "deletecollection"}
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
                if resource in {"secrets", "configmaps"}:
                    assert rule.get("resourceNames"), f"{resource} only by name"
                    assert set(rule["verbs"]) == {"get"}, f"{resource}: read only"
                if resource.startswith("pods"):
                    assert set(rule["verbs"]) <= {"get", "list", "watch"}, resource
    # Jobs are the training launcher's (tests/deploy/test_cluster_privilege.py).
    assert ("trainer.kubeflow.org", "trainjobs") not in granted
    assert ("kubeflow.org", "pytorchjobs") not in granted
    secrets = next(r for r in role["rules"] if "secrets" in r["resources"])
    assert secrets["resourceNames"] == [SECRET_NAME]
    binding = one(docs, "RoleBinding", "vlaa-pipeline-runner")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "vlaa-pipeline-runner",
    }
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
        ("ServiceAccount", "vlaa-pipeline-runner")
    ]
    one(docs, "ServiceAccount", "vlaa-pipeline-runner")


# --- secrets -------------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.rglob("*") if p.is_file())


def test_no_secret_values_in_manifest_files() -> None:
    files = manifest_files()
    assert len(files) > 10
    findings = [
        finding
        for path in files
        for finding in scan_text(path.read_text(), str(path.relative_to(MANIFESTS)))
    ]
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize("target", TARGETS)
def test_no_secret_values_in_rendered_manifests(
    builds: dict[str, list[dict[str, Any]]], target: str
) -> None:
    docs = builds[target]
    findings = scan_secret_resources(docs, target)
    findings += scan_text(yaml.safe_dump_all(docs, width=1000), target)
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize(
    "line",
    [
        "aws_access_key_id: " + "AKIA" + "IOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY: " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
        "AWS_SECRET_ACCESS_KEY: hunter2hunter2",
        "  password: hunter2",
        '  "apiKey": "sk-abc123"',
        "MINIO_ROOT_PASSWORD=minio123",
        "# password: commented-out-but-real",
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "blob: " + "dGhpcyBpcyBhIHNlY3JldCB2YWx1ZSBvZiBzb21lIGxlbmd0aA" + "==",
        "token: 0123456789abcdef0123456789abcdef01234567",
        "url: http://admin:" + "s3cret@minio:9000",
        "secretKey: hunter2hunter2",
    ],
)
def test_secret_scanner_flags_real_looking_values(line: str) -> None:
    assert scan_text(line, "sample"), line


@pytest.mark.parametrize(
    "line",
    [
        f"AWS_SECRET_ACCESS_KEY: {PLACEHOLDER}",
        "secretKeyKey: AWS_SECRET_ACCESS_KEY",
        "secretName: vlaa-s3-credentials",
        "secretKey: AWS_SECRET_ACCESS_KEY",
        "automountServiceAccountToken: false",
        "- secretKeyRef:",
        "sourceLabels: [__meta_kubernetes_pod_container_port_number]",
        'until mc alias set vlaa "$VLAA_S3_ENDPOINT" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"',
    ],
)
def test_secret_scanner_accepts_placeholders_and_references(line: str) -> None:
    assert not scan_text(line, "sample"), line


def test_secret_resource_scanner_flags_values() -> None:
    real = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "aHVudGVyMg=="}}
    placeholder = {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": PLACEHOLDER}}
    assert scan_secret_resources([real], "x")
    assert not scan_secret_resources([placeholder], "x")


# --- Prometheus: scrape config, rules, alert unit tests --------------------------------------


def test_monitors_match_the_services_and_port(builds: dict[str, list[dict[str, Any]]]) -> None:
    docs = builds["overlays/prod"]
    service_monitor = one(docs, "ServiceMonitor", "vlaa-pushgateway")
    gateway = one(docs, "Service", "pushgateway")
    selector = service_monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= gateway["metadata"]["labels"].items()
    endpoint = service_monitor["spec"]["endpoints"][0]
    assert endpoint["port"] in {p["name"] for p in gateway["spec"]["ports"]}
    assert endpoint["honorLabels"] is True, "pushed job/run labels must survive"
    port = one(docs, "ConfigMap", "vlaa-runtime-env")["data"][PORT_ENV]
    pod_monitor = one(docs, "PodMonitor", "vlaa-training")
    relabelings = pod_monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]
    address = next(r for r in relabelings if r.get("targetLabel") == "__address__")
    assert address["replacement"] == f"$1:{port}"
    assert port in SCRAPE_CONFIGS.read_text()


def test_scrape_configs_pass_promtool(promtool: str, tmp_path: Path) -> None:
    """promtool check config; Debian's promtool is built without Kubernetes service
    discovery, so each kubernetes_sd_configs block is checked by hand and swapped for a
    static target before promtool checks the rest (relabel rules, options)."""
    config = yaml.safe_load(SCRAPE_CONFIGS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"vlaa-pushgateway", "vlaa-training-pods"}
    assert jobs["vlaa-pushgateway"]["honor_labels"] is True
    for job in jobs.values():
        for sd in job.pop("kubernetes_sd_configs"):
            assert set(sd) <= {"role", "namespaces"}
            assert sd["role"] in {"pod", "endpoints", "endpointslice", "service"}
            assert set(sd["namespaces"]) == {"names"} and sd["namespaces"]["names"]
        job["static_configs"] = [{"targets": ["127.0.0.1:9400"]}]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    run_tool([promtool, "check", "config", str(checked)])


def test_rules_pass_promtool_check(promtool: str, tmp_path: Path) -> None:
    output = run_tool(
        [promtool, "check", "rules", str(write_rules(tmp_path / "r.yml", rule_spec()))]
    )
    assert "SUCCESS" in output


def test_alert_unit_tests_pass(promtool: str, tmp_path: Path) -> None:
    write_rules(tmp_path / "vlaa-alerts.rules.yml", rule_spec())
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    tested = yaml.safe_load(ALERT_TESTS.read_text())
    assert tested["rule_files"] == ["vlaa-alerts.rules.yml"]
    covered = {
        case["alertname"] for test in tested["tests"] for case in test.get("alert_rule_test", [])
    }
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts <= covered, f"alerts without a unit test: {alerts - covered}"
    run_tool([promtool, "test", "rules", ALERT_TESTS.name], cwd=tmp_path)


def test_alert_unit_tests_fail_on_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    """The unit tests have teeth: a KL threshold 10x too high makes them fail."""
    spec = rule_spec()
    for group in spec["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "VlaaKLAboveThreshold":
                rule["expr"] = rule["expr"].replace("> 0.01", "> 0.1")
    write_rules(tmp_path / "vlaa-alerts.rules.yml", spec)
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    result = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0 and "VlaaKLAboveThreshold" in result.stdout + result.stderr


def test_alerts_cover_the_issue_and_use_emitted_metrics() -> None:
    all_rules = rules()
    alerts = {rule["alert"]: rule for rule in all_rules if "alert" in rule}
    assert set(alerts) >= REQUIRED_ALERTS
    recorded = {rule["record"] for rule in all_rules if "record" in rule}
    allowed = emitted_metric_names() | NOT_YET_EMITTED | INFRASTRUCTURE_METRICS | recorded
    used: set[str] = set()
    for rule in all_rules:
        names = promql_metric_names(str(rule["expr"]))
        name = rule.get("alert") or rule.get("record")
        assert names, f"{name}: no metric found in its expression"
        assert names <= allowed, f"{name} uses unknown metrics {names - allowed}"
        labels = promql_label_names(str(rule["expr"]))
        assert labels <= ALLOWED_LABELS, f"{name}: {labels}"
        used |= names
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}
            assert {"summary", "description"} <= set(rule["annotations"])
    # Every allowance is in use (stale entries must go).
    assert used >= NOT_YET_EMITTED | INFRASTRUCTURE_METRICS
    # Pushed series are told apart by the push job of vlaa/observability.
    assert f'job!="{PUSH_JOB}"' in alerts["VlaaTrainingStalled"]["expr"]
    assert f'job="{PUSH_JOB}"' in next(r for r in all_rules if r.get("record"))["expr"]


def test_promql_metric_name_extraction() -> None:
    expr = (
        'sum by (run_id, arm) (increase(vlaa_a_total{run_id=~"$run_id"}[$__rate_interval]))'
        " / on (run_id) group_left max(vlaa_b offset 5m)"
        " > 0.5 * quantile_over_time(0.5, vlaa_c[6h])"
        " and vlaa:recorded or absent(up) unless -Inf < vlaa_d"
    )
    assert promql_metric_names(expr) == {
        "vlaa_a_total",
        "vlaa_b",
        "vlaa_c",
        "vlaa:recorded",
        "up",
        "vlaa_d",
    }
    assert promql_label_names(expr) == {"run_id", "arm"}
    assert grafana_query_metric_names('label_values(vlaa_x{arm=~"$arm"}, run_id)') == {"vlaa_x"}


# --- Grafana -------------------------------------------------------------------------------


def test_dashboard_is_valid_json_and_uses_only_emitted_metrics(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    emitted = emitted_metric_names()
    exprs = list(dashboard_exprs(dashboard))
    assert len(exprs) >= 10
    used: set[str] = set()
    for title, expr in exprs:
        names = promql_metric_names(expr)
        assert names, f"panel {title!r}: no metric in {expr!r}"
        assert names <= emitted, (
            f"panel {title!r} uses metrics the code does not emit: {names - emitted}"
        )
        labels = promql_label_names(expr)
        assert labels <= ALLOWED_LABELS, f"panel {title!r}: labels {labels - ALLOWED_LABELS}"
        used |= names
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            names = grafana_query_metric_names(variable["query"]["query"])
            assert names and names <= emitted, variable["name"]
    # What the issue asks to see: reward per type, KL, response length, step time; per arm.
    assert {"vlaa_reward_mean", "vlaa_reward_by_type_mean", "vlaa_kl"} <= used
    assert {"vlaa_completion_length_mean", "vlaa_step_time_seconds"} <= used
    assert all("arm" in promql_label_names(expr) for _, expr in exprs)
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"run_id", "arm", "stage"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    # Shipped to Grafana's sidecar as the very same JSON.
    config_map = one(builds["base"], "ConfigMap", "vlaa-grafana-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"][DASHBOARD.name]) == dashboard


def test_dashboard_queries_parse(promtool: str, tmp_path: Path) -> None:
    """Each dashboard query, Grafana variables filled in, is valid PromQL to promtool."""
    dashboard = json.loads(DASHBOARD.read_text())
    records = [
        {"record": f"vlaa_dashboard:query_{i}", "expr": grafana_to_promql(expr)}
        for i, (_, expr) in enumerate(dashboard_exprs(dashboard))
    ]
    spec = {"groups": [{"name": "dashboard", "rules": records}]}
    run_tool([promtool, "check", "rules", str(write_rules(tmp_path / "d.yml", spec))])
