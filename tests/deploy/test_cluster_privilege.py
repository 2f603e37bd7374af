"""Cluster least privilege (docs/cluster.md), checked on the rendered overlays and the compiled
pipelines: only the training launcher may create jobs and only sft/grpo mount its token; no task
holds MinIO's root keys and each MinIO user's policy allows its purpose only (evaluated by moto's
IAM); NetworkPolicies admit the flows the system needs and refuse others
(tests/support/network_policy.py); namespaces enforce a Pod Security level; images by digest."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto.settings
import pytest
import yaml
from botocore.exceptions import ClientError
from doubles.s3_api import REGION, MotoS3
from support.manifest_tools import MANIFESTS, REPO, kubectl_binary, kustomize_build
from support.network_policy import Endpoint, allowed, pod

from vlaa import cluster
from vlaa.pipelines import kubernetes as k8s

OVERLAYS = ["overlays/dev", "overlays/prod"]
COMPILED = sorted((REPO / "pipelines/compiled").glob("*.yaml"))
POLICIES = MANIFESTS / "base/minio/policies"
_EXECUTOR = re.compile(r"^exec-(?P<step>.+?)(?:-\d+)?$")
KFP_LABEL = {"pipelines.kubeflow.org/v2_component": "true"}
JOB_KINDS = {("trainer.kubeflow.org", "trainjobs"), ("kubeflow.org", "pytorchjobs")}
POD_CREATING = {"pods", "jobs", "deployments", "statefulsets", "daemonsets", "replicasets"}


@pytest.fixture(scope="module")
def builds() -> dict[str, list[dict[str, Any]]]:
    kubectl = kubectl_binary()
    return {target: kustomize_build(kubectl, target) for target in OVERLAYS}


@pytest.fixture(scope="module")
def executors() -> dict[str, dict[str, dict[str, Any]]]:
    """Per compiled pipeline: executor name -> its Kubernetes platform config."""
    assert COMPILED, "no compiled pipelines"
    found = {}
    for path in COMPILED:
        _, platform = yaml.safe_load_all(path.read_text())
        found[path.name] = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    return found


def step_of(executor: str) -> str:
    match = _EXECUTOR.match(executor)
    assert match, executor
    return match["step"]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def grants(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def bindings_of(docs: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == role]


# --- who may create jobs -------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pipeline_account_creates_no_jobs_and_no_pods(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    granted = grants(find(builds[overlay], "Role", cluster.PIPELINE_SERVICE_ACCOUNT))
    creating = {key for key, verbs in granted.items() if verbs & {"create", "patch", "update"}}
    assert creating == {("argoproj.io", "workflowtaskresults")}
    assert not JOB_KINDS & set(granted)
    assert granted[("", "pods")] == {"get"}, "KFP's driver and launcher read their own pod"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_training_launcher_creates_jobs(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = builds[overlay]
    name = cluster.TRAINING_LAUNCHER_SERVICE_ACCOUNT
    granted = grants(find(docs, "Role", name))
    for kind in JOB_KINDS:
        assert {"create", "get", "watch", "delete"} <= granted[kind]
    # Nothing else: no Secrets, no ConfigMaps, no pods of its own making.
    others = {key for key, verbs in granted.items() if key not in JOB_KINDS and verbs - {"get"}}
    assert others == {("", "pods")} and granted[("", "pods")] == {"get", "list", "watch"}
    assert not {resource for _, resource in granted} & {"secrets", "configmaps"}
    (binding,) = bindings_of(docs, name)
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [("ServiceAccount", name)]
    account = find(docs, "ServiceAccount", name)
    assert account["automountServiceAccountToken"] is False, "no pod runs as it"
    token = find(docs, "Secret", cluster.TRAINING_LAUNCHER_TOKEN_SECRET)
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"]["kubernetes.io/service-account.name"] == name
    # Every Role that may create jobs is bound to the launcher alone.
    for role in (d for d in docs if d["kind"] == "Role"):
        if any("create" in grants(role).get(kind, set()) for kind in JOB_KINDS):
            assert role["metadata"]["name"] == name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_job_pods_run_as_an_account_without_rights(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = builds[overlay]
    name = cluster.TRAINING_WORKER_SERVICE_ACCOUNT
    assert find(docs, "ServiceAccount", name)["automountServiceAccountToken"] is False
    bound = {
        subject["name"] for d in docs if d["kind"] == "RoleBinding" for subject in d["subjects"]
    }
    assert name not in bound


def test_only_the_training_tasks_mount_the_launcher_token(
    executors: dict[str, dict[str, dict[str, Any]]],
) -> None:
    for pipeline, configs in executors.items():
        mounting = set()
        for executor, config in configs.items():
            volumes = config.get("secretAsVolume", [])
            tokens = [
                v for v in volumes if v["secretName"] == cluster.TRAINING_LAUNCHER_TOKEN_SECRET
            ]
            if tokens:
                mounting.add(step_of(executor))
                assert [v["mountPath"] for v in tokens] == [cluster.TRAINING_LAUNCHER_TOKEN_DIR]
            elif step_of(executor) in k8s.JOB_SUBMITTER_STEPS:
                pytest.fail(f"{pipeline}: {executor} cannot submit its multi-node job")
        assert mounting == {"sft", "grpo"} == set(k8s.JOB_SUBMITTER_STEPS), pipeline


# --- MinIO credentials -----------------------------------------------------------------------


def test_no_task_reads_the_root_credentials(
    executors: dict[str, dict[str, dict[str, Any]]],
) -> None:
    for path in COMPILED:
        assert cluster.MINIO_ROOT_SECRET not in path.read_text(), path.name
    for pipeline, configs in executors.items():
        for executor, config in configs.items():
            s3 = [s["secretName"] for s in config["secretAsEnv"] if "s3" in s["secretName"]]
            expected = k8s.S3_SECRET_OF_STEP.get(step_of(executor), cluster.S3_SECRET)
            assert s3 == [expected], (pipeline, executor)
    assert k8s.S3_SECRET_OF_STEP == {"publish": cluster.S3_PUBLISHER_SECRET}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_minio_and_its_setup_job_hold_the_root_keys(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    holders = set()
    for doc in builds[overlay]:
        if cluster.MINIO_ROOT_SECRET in yaml.safe_dump(doc):
            holders.add(f"{doc['kind']}/{doc['metadata']['name']}")
    assert holders == {"StatefulSet/minio", "Job/minio-create-buckets"}
    # The KFP launcher reads the pipeline user's keys, never root's.
    providers = yaml.safe_load(
        find(builds[overlay], "ConfigMap", "kfp-launcher")["data"]["providers"]
    )
    assert providers["s3"]["default"]["credentials"]["secretRef"]["secretName"] == cluster.S3_SECRET


def setup_script(docs: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    job = find(docs, "Job", "minio-create-buckets")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container["args"][0], container


def test_the_setup_job_makes_one_user_per_purpose(
    builds: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    docs = builds["overlays/prod"]
    script, container = setup_script(docs)
    (tmp_path / "setup.sh").write_text(script)
    subprocess.run(["sh", "-n", str(tmp_path / "setup.sh")], check=True)  # parses
    policy_files = sorted(p.stem for p in POLICIES.glob("*.json"))
    assert policy_files == ["vlaa-pipeline", "vlaa-publisher", "vlaa-serving"]
    assert f"for policy in {' '.join(policy_files)}; do" in script
    config_map = find(docs, "ConfigMap", "vlaa-minio-policies")
    assert sorted(config_map["data"]) == [f"{name}.json" for name in policy_files]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "policies")
    assert f'"{mount["mountPath"]}/$policy.json"' in script
    secrets = {
        env["name"]: env["valueFrom"]["secretKeyRef"]
        for env in container["env"]
        if "valueFrom" in env
    }
    users = {
        "vlaa-pipeline": ("PIPELINE", cluster.S3_SECRET),
        "vlaa-publisher": ("PUBLISHER", cluster.S3_PUBLISHER_SECRET),
        "vlaa-serving": ("SERVING", cluster.S3_SERVING_SECRET),
    }
    for policy, (prefix, secret) in users.items():
        assert re.search(rf"^add_user {policy} \"\$\{{?{prefix}_ACCESS_KEY", script, re.M), policy
        assert secrets[f"{prefix}_ACCESS_KEY"]["name"] == secret
        assert secrets[f"{prefix}_SECRET_KEY"]["name"] == secret
    assert secrets["SERVING_ACCESS_KEY"]["optional"] is True, "serving keys are optional"
    assert {s["name"] for s in secrets.values() if "MINIO_ROOT" in s["key"]} == {
        cluster.MINIO_ROOT_SECRET
    }


@pytest.fixture
def iam_s3() -> Iterator[tuple[MotoS3, dict[str, tuple[str, str]]]]:
    """moto's S3 with IAM enforced: one user per MinIO policy, with the policy's JSON attached
    as an IAM policy (MinIO speaks the AWS policy language). Yields the server and the keys."""
    server = MotoS3()
    server.start()
    old_count = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")  # set up unauthenticated
    try:
        admin = server.client()
        iam = server.client("iam")
        for bucket in ("vlaa-pipelines", "vlaa-models"):
            try:
                admin.create_bucket(Bucket=bucket)
            except ClientError as error:
                assert error.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
        keys = {}
        suffix = uuid.uuid4().hex[:8]
        for path in sorted(POLICIES.glob("*.json")):
            user = f"{path.stem}-{suffix}"
            iam.create_user(UserName=user)
            arn = iam.create_policy(PolicyName=user, PolicyDocument=path.read_text())
            iam.attach_user_policy(UserName=user, PolicyArn=arn["Policy"]["Arn"])
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[path.stem] = (key["AccessKeyId"], key["SecretAccessKey"])
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # enforce from now on
        yield server, keys
    finally:
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = old_count
        server.stop()


def can(client: Any, operation: str, **kwargs: Any) -> bool:
    try:
        getattr(client, operation)(**kwargs)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDenied", error
        return False
    return True


def test_each_minio_user_can_do_its_job_and_nothing_more(
    iam_s3: tuple[MotoS3, dict[str, tuple[str, str]]],
) -> None:
    """Object reads, writes and deletes per user. moto names a request's IAM action after its
    API operation (moto/iam/access_control.py, S3IAMRequest), which for these equals AWS's and
    MinIO's; listing and HEAD (s3:ListBucket, s3:GetObject there) are checked in the JSON."""
    server, keys = iam_s3

    def as_user(policy: str) -> Any:
        key_id, secret = keys[policy]
        return boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    pipeline, publisher, serving = (
        as_user(p) for p in ("vlaa-pipeline", "vlaa-publisher", "vlaa-serving")
    )
    root_key, model_key = "pipeline-root/run/sft/model.bin", "registry/m/v0001/model.bin"
    # The pipeline's tasks: read and write the pipeline root, read the registry only.
    assert can(pipeline, "put_object", Bucket="vlaa-pipelines", Key=root_key, Body=b"x")
    assert can(pipeline, "get_object", Bucket="vlaa-pipelines", Key=root_key)
    assert not can(pipeline, "put_object", Bucket="vlaa-models", Key=model_key, Body=b"x")
    assert not can(pipeline, "delete_object", Bucket="vlaa-pipelines", Key=root_key)
    assert not can(pipeline, "create_bucket", Bucket=f"other-{uuid.uuid4().hex[:8]}")
    # The publisher: the registry only, and it never deletes.
    assert can(publisher, "put_object", Bucket="vlaa-models", Key=model_key, Body=b"m")
    assert can(publisher, "get_object", Bucket="vlaa-models", Key=model_key)
    assert not can(publisher, "get_object", Bucket="vlaa-pipelines", Key=root_key)
    assert not can(publisher, "delete_object", Bucket="vlaa-models", Key=model_key)
    # Serving: read the registry.
    assert can(serving, "get_object", Bucket="vlaa-models", Key=model_key)
    assert can(pipeline, "get_object", Bucket="vlaa-models", Key=model_key)
    assert not can(serving, "put_object", Bucket="vlaa-models", Key=model_key, Body=b"y")
    assert not can(serving, "get_object", Bucket="vlaa-pipelines", Key=root_key)


def test_policies_name_the_configured_buckets_and_no_wildcards(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    env = find(builds["overlays/prod"], "ConfigMap", "vlaa-runtime-env")["data"]
    buckets = {env["VLAA_PIPELINE_BUCKET"], env["VLAA_MODELS_BUCKET"]}
    for path in POLICIES.glob("*.json"):
        document = yaml.safe_load(path.read_text())
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            assert all(re.fullmatch(r"s3:[A-Za-z]+", a) for a in statement["Action"]), path.name
            assert not any("Delete" in a or "Policy" in a for a in statement["Action"])
            for resource in statement["Resource"]:
                bucket = resource.removeprefix("arn:aws:s3:::").split("/")[0]
                assert bucket in buckets, (path.name, resource)

    def listable(policy: str) -> set[str]:
        document = yaml.safe_load((POLICIES / f"{policy}.json").read_text())
        return {
            resource.removeprefix("arn:aws:s3:::")
            for statement in document["Statement"]
            if "s3:ListBucket" in statement["Action"]
            for resource in statement["Resource"]
        }

    pipeline_bucket, models_bucket = env["VLAA_PIPELINE_BUCKET"], env["VLAA_MODELS_BUCKET"]
    assert listable("vlaa-pipeline") == {pipeline_bucket, models_bucket}
    assert listable("vlaa-publisher") == listable("vlaa-serving") == {models_bucket}


# --- NetworkPolicies -----------------------------------------------------------------------


def pod_labels(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, str]:
    return find(docs, kind, name)["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_what_the_system_needs_and_nothing_else(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = builds[overlay]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    ns = next(d["metadata"]["name"] for d in docs if d["kind"] == "Namespace")
    metrics = dict([cluster.METRICS_LABEL])
    minio = pod("minio-0", ns, pod_labels(docs, "StatefulSet", "minio"))
    gateway = pod("pushgateway", ns, pod_labels(docs, "Deployment", "pushgateway"))
    setup = pod("setup", ns, pod_labels(docs, "Job", "minio-create-buckets"))
    cache_job = pod("cache", ns, pod_labels(docs, "Job", "vlaa-teacher-cache-permissions"))
    task = pod("prepare", ns, KFP_LABEL)
    sft = pod("sft", ns, {**KFP_LABEL, **metrics})
    trainjob = pod("node-0", ns, {"jobset.sigs.k8s.io/jobset-name": "vlaa-sft-x", **metrics})
    trainjob_peer = pod("node-1", ns, {"jobset.sigs.k8s.io/jobset-name": "vlaa-sft-x"})
    pytorchjob = pod("master-0", ns, {"training.kubeflow.org/job-name": "vlaa-grpo-x"})
    prometheus = pod("prometheus-0", "monitoring", {"app.kubernetes.io/name": "prometheus"})
    kfp_ui = pod("ui", "kubeflow", {"app": "ml-pipeline-ui"})
    ml_pipeline = pod("ml-pipeline", "kubeflow", {"app": "ml-pipeline"})
    mlmd = pod("metadata-grpc", "kubeflow", {"component": "metadata-grpc-server"})
    mysql = pod("mysql", "kubeflow", {"app": "mysql"})
    stranger = pod("debug", ns, {})
    elsewhere = pod("app", "team-b", {"app.kubernetes.io/name": "prometheus"})
    internet = Endpoint("api.openai.com", ip="203.0.113.7")
    dns = pod("coredns", "kube-system", {"k8s-app": "kube-dns"})

    admitted = [
        (task, minio, 9000),
        (sft, minio, 9000),
        (setup, minio, 9000),
        (trainjob, minio, 9000),
        (pytorchjob, minio, 9000),
        (kfp_ui, minio, 9000),
        (task, gateway, 9091),
        (trainjob, gateway, 9091),
        (pytorchjob, gateway, 9091),
        (prometheus, gateway, 9091),
        (prometheus, sft, 9400),
        (prometheus, trainjob, 9400),
        (trainjob_peer, trainjob, 29500),
        (trainjob, trainjob_peer, 41234),
        (task, ml_pipeline, 8887),
        (task, ml_pipeline, 8888),
        (task, mlmd, 8080),
        (task, internet, 443),
        (task, dns, 53),
    ]
    refused = [
        (stranger, minio, 9000),
        (cache_job, minio, 9000),
        (elsewhere, minio, 9000),
        (task, minio, 9001),  # the console
        (prometheus, minio, 9000),
        (stranger, gateway, 9091),
        (elsewhere, gateway, 9091),
        (stranger, sft, 9400),
        (prometheus, task, 9400),
        (task, trainjob, 29500),
        (task, mysql, 3306),
        (task, internet, 22),
        (task, pod("db", "team-b", {}), 5432),
        (minio, internet, 443),
        (gateway, internet, 443),
        (internet, minio, 9000),
    ]
    problems = [
        f"refused {s.name} -> {d.name}:{p}"
        for s, d, p in admitted
        if not allowed(policies, s, d, p)
    ]
    problems += [
        f"admitted {s.name} -> {d.name}:{p}" for s, d, p in refused if allowed(policies, s, d, p)
    ]
    assert allowed(policies, task, dns, 53, "UDP") and allowed(policies, minio, dns, 53, "UDP")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_policy_ports_are_the_containers_ports(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = builds[overlay]
    for name, kind, policy in (
        ("minio", "StatefulSet", "vlaa-minio"),
        ("pushgateway", "Deployment", "vlaa-pushgateway"),
    ):
        container = find(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]
        ports = {p["containerPort"] for p in container["ports"]}
        (rule,) = find(docs, "NetworkPolicy", policy)["spec"]["ingress"]
        assert {p["port"] for p in rule["ports"]} <= ports, policy
    port = int(find(docs, "ConfigMap", "vlaa-runtime-env")["data"]["VLAA_METRICS_PORT"])
    (rule,) = find(docs, "NetworkPolicy", "vlaa-training-metrics")["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [port]


def test_the_evaluator_has_teeth() -> None:
    """An Ingress-only policy isolates nothing for egress; an empty ingress list refuses all."""
    policy = {
        "metadata": {"namespace": "a"},
        "spec": {"podSelector": {"matchLabels": {"x": "1"}}, "policyTypes": ["Ingress"]},
    }
    target, other = pod("t", "a", {"x": "1"}), pod("o", "a", {})
    assert not allowed([policy], other, target, 80)
    assert allowed([policy], target, other, 80)
    policy["spec"]["ingress"] = [{"from": [{"podSelector": {}}], "ports": [{"port": 80}]}]
    assert allowed([policy], other, target, 80) and not allowed([policy], other, target, 81)
    assert not allowed([policy], pod("o", "b", {}), target, 80), "podSelector alone: own namespace"


# --- Pod Security and images -----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaces_enforce_a_pod_security_level(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    (namespace,) = [d for d in builds[overlay] if d["kind"] == "Namespace"]
    labels = namespace["metadata"]["labels"]
    prefix = "pod-security.kubernetes.io/"
    assert labels[prefix + "enforce"] in {"baseline", "restricted"}
    assert labels[prefix + "warn"] == labels[prefix + "audit"] == "restricted"
    for mode in ("enforce", "warn", "audit"):
        assert re.fullmatch(r"v1\.\d+", labels[f"{prefix}{mode}-version"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_our_workloads_meet_the_restricted_level(
    builds: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    """So they pass the enforced baseline with room to spare (PSA's restricted checks)."""
    allowed_volumes = {"name", "emptyDir", "configMap", "secret", "persistentVolumeClaim"}
    for doc in builds[overlay]:
        if doc["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        spec = doc["spec"]["template"]["spec"]
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), where
        for volume in spec.get("volumes", []):
            assert set(volume) <= allowed_volumes, f"{where}: {volume}"
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in security["capabilities"] and not security.get("privileged")


def test_the_compiled_pipelines_ask_for_nothing_baseline_refuses(
    executors: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """KFP task pods: only volume kinds baseline allows, no host namespaces, no privileges
    (kfp-kubernetes 2.17 can set none of those, so a new field here needs a look)."""
    known = {
        "activeDeadlineSeconds",
        "configMapAsEnv",
        "secretAsEnv",
        "secretAsVolume",
        "pvcMount",
        "emptyDirMounts",
        "nodeSelector",
        "tolerations",
        "podMetadata",
    }
    for pipeline, configs in executors.items():
        for executor, config in configs.items():
            assert set(config) <= known, (pipeline, executor, set(config) - known)
