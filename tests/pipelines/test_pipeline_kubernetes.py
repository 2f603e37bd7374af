"""Kubernetes settings of the compiled pipelines (pipelines/kubernetes.py): placement of GPU and
CPU steps, env from the ConfigMap and Secrets (names only), teacher cache volume, caching,
retries and timeouts; that they agree with manifests/base; and that KFP's local runner still
runs a pipeline that carries them.

No ``from __future__ import annotations``: KFP reads the probe components' annotations."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import dsl, local
from kfp.kubernetes import kubernetes_executor_config_pb2
from support.manifest_tools import MANIFESTS, scan_text

from vlaa.cluster import CHECKPOINT_ENV
from vlaa.pipelines import kubernetes as k8s
from vlaa.pipelines.compile import PIPELINES, compile_pipeline

GPU_STEPS = {"sft", "grpo", "evaluate"}
CPU_STEPS = {"prepare", "build-dataset", "publish", "compare"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
_EXECUTOR = re.compile(r"^exec-(?P<step>.+?)(?:-\d+)?$")
PROBE_IMAGE = "python:3.11"  # unused: the subprocess runner runs in this environment
_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


@pytest.fixture(scope="module", params=sorted(PIPELINES))
def compiled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``ir``, ``executors`` (the Kubernetes platform config per executor) and ``text``."""
    path = compile_pipeline(request.param, tmp_path_factory.mktemp("k8s") / "p.yaml")
    text = path.read_text()
    ir, platform = yaml.safe_load_all(text)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    return {"name": request.param, "ir": ir, "executors": executors, "text": text}


def step_of(executor: str) -> str:
    match = _EXECUTOR.match(executor)
    assert match, executor
    return match["step"]


def executors_of(compiled: dict, steps: set[str]) -> dict[str, dict[str, Any]]:
    found = {e: cfg for e, cfg in compiled["executors"].items() if step_of(e) in steps}
    assert found, f"no executor for {steps} in {compiled['name']}"
    return found


def dag_components(ir: dict) -> dict[str, dict[str, Any]]:
    """The root and every sub-DAG (condition branches), by name."""
    dags = {"root": ir["root"]}
    dags.update({name: c for name, c in ir["components"].items() if "dag" in c})
    return dags


def tasks_by_step(ir: dict) -> list[tuple[str, dict[str, Any]]]:
    """(step name, task spec) of every container task in every DAG."""
    found = []
    for dag in dag_components(ir).values():
        for task in dag["dag"]["tasks"].values():
            component = ir["components"][task["componentRef"]["name"]]
            if "executorLabel" in component:
                found.append((step_of(component["executorLabel"]), task))
    return found


def manifest(relative: str) -> dict[str, Any]:
    return yaml.safe_load((MANIFESTS / relative).read_text())


def parameter_name(selector: dict[str, Any]) -> str:
    """The run parameter a platform setting is wired to (inside a branch, its channel)."""
    return selector["componentInputParameter"].removeprefix("pipelinechannel--")


# --- every step ------------------------------------------------------------------------------


def test_every_executor_has_kubernetes_settings(compiled: dict) -> None:
    assert set(compiled["executors"]) == set(compiled["ir"]["deploymentSpec"]["executors"])
    assert {step_of(e) for e in compiled["executors"]} <= set(k8s.STEPS)


def test_every_executor_reads_the_runtime_env_and_s3_secret(compiled: dict) -> None:
    for name, config in compiled["executors"].items():
        (config_map,) = config["configMapAsEnv"]
        assert config_map["configMapName"] == "vlaa-runtime-env", name
        assert [e["configMapKey"] for e in config_map["keyToEnv"]] == list(k8s.RUNTIME_ENV_KEYS)
        assert all(e["configMapKey"] == e["envVar"] for e in config_map["keyToEnv"])
        secrets = {s["secretName"]: s for s in config["secretAsEnv"]}
        # publish writes the registry as its own MinIO user (docs/cluster.md).
        s3 = secrets[k8s.S3_SECRET_OF_STEP.get(step_of(name), "vlaa-s3-credentials")]
        assert {(e["secretKey"], e["envVar"]) for e in s3["keyToEnv"]} == {
            ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        }
        assert s3["optional"] is False, "a missing S3 Secret must stop the pod, not the upload"


def test_secrets_are_referenced_by_name_only(compiled: dict) -> None:
    for name, config in compiled["executors"].items():
        for secret in config["secretAsEnv"]:
            assert set(secret) <= {"secretName", "secretNameParameter", "keyToEnv", "optional"}
            parameter = secret["secretNameParameter"]["runtimeValue"]["constant"]
            assert parameter == secret["secretName"], name
    # Nothing compiled looks like a secret value. The scanner cannot tell KFP's key-name field
    # (`secretKey: AWS_ACCESS_KEY_ID`) from a value; those lines must name a key we declared.
    lines = compiled["text"].splitlines()
    key_names = {f"secretKey: {key}" for key in (*k8s.S3_SECRET_KEYS, *k8s.TEACHER_SECRET_KEYS)}
    findings = [
        finding
        for finding in scan_text(compiled["text"], compiled["name"])
        if lines[finding.line - 1].strip().removeprefix("- ") not in key_names
    ]
    assert findings == []
    for executor in compiled["ir"]["deploymentSpec"]["executors"].values():
        env = {e["name"] for e in executor["container"].get("env", [])}
        assert not env & {*k8s.S3_SECRET_KEYS, *k8s.TEACHER_SECRET_KEYS}


def test_timeouts_per_step(compiled: dict) -> None:
    for name, config in compiled["executors"].items():
        assert int(config["activeDeadlineSeconds"]) == k8s.STEPS[step_of(name)].timeout_seconds
    for training in ("sft", "grpo"):
        assert k8s.STEPS[training].timeout_seconds >= 48 * k8s.HOUR, "training needs days"
    assert all(step.timeout_seconds > 0 for step in k8s.STEPS.values())


def test_caching_and_retries_per_step(compiled: dict) -> None:
    seen = set()
    for step, task in tasks_by_step(compiled["ir"]):
        seen.add(step)
        settings = k8s.STEPS[step]
        assert task["cachingOptions"].get("enableCache", False) is settings.caching, step
        retry = task.get("retryPolicy")
        if settings.retries:
            assert retry["maxRetryCount"] == settings.retries, step
            assert retry["backoffDuration"] == f"{k8s.RETRY_BACKOFF_SECONDS}s"
            # Argo gives up once maxDuration has passed since the first attempt started.
            window = int(retry["backoffMaxDuration"].removesuffix("s"))
            assert window >= (settings.retries + 1) * settings.timeout_seconds, step
        else:
            assert retry is None, step
    assert seen == {step_of(e) for e in compiled["executors"]}


def test_cache_and_retry_choices() -> None:
    """The intent, spelled out: no cache where a step has side effects or external inputs;
    retries only where running again resumes (training: from its checkpoint volume)."""
    steps = k8s.STEPS
    assert not steps["publish"].caching and not steps["build-dataset"].caching
    assert not steps["prepare"].caching
    assert steps["sft"].caching and steps["grpo"].caching and steps["evaluate"].caching
    for step in ("build-dataset", "evaluate", "prepare", "publish", "sft", "grpo"):
        assert steps[step].retries > 0, step
    # Training retries resume only because its checkpoints outlive the pod.
    assert [name for name, step in steps.items() if step.checkpoints] == ["sft", "grpo"]


# --- GPU steps -------------------------------------------------------------------------------


def test_gpu_steps_request_accelerators_from_the_run(compiled: dict) -> None:
    deployment = compiled["ir"]["deploymentSpec"]["executors"]
    for name in executors_of(compiled, GPU_STEPS):
        accelerator = deployment[name]["container"]["resources"]["accelerator"]
        assert _PLACEHOLDER.fullmatch(accelerator["resourceType"])[1] == "pipelinechannel--gpu_type"
        assert (
            _PLACEHOLDER.fullmatch(accelerator["resourceCount"])[1] == "pipelinechannel--gpu_count"
        )


def test_gpu_steps_go_to_the_gpu_pool(compiled: dict) -> None:
    for name, config in executors_of(compiled, GPU_STEPS).items():
        assert parameter_name(config["nodeSelector"]["nodeSelectorJson"]) == "gpu_node_selector"
        built_in, from_run = config["tolerations"]
        assert built_in == GPU_TOLERATION, name
        assert parameter_name(from_run["tolerationJson"]) == "gpu_tolerations", name
        assert config["podMetadata"]["labels"]["vlaa.io/gpu-task"] == "true"
        (shm,) = config["emptyDirMounts"]
        assert shm == {
            "volumeName": "dshm",
            "mountPath": "/dev/shm",
            "medium": "Memory",
            "sizeLimit": k8s.SHM_SIZE,
        }


def test_only_training_pods_are_scraped(compiled: dict) -> None:
    for name, config in compiled["executors"].items():
        labels = config.get("podMetadata", {}).get("labels", {})
        scraped = labels.get("vlaa.io/metrics") == "true"
        assert scraped is (step_of(name) in {"sft", "grpo"}), name
    monitor = manifest("components/prometheus-operator/podmonitor-training.yaml")
    assert monitor["spec"]["selector"]["matchLabels"] == dict([k8s.METRICS_LABEL])


# --- CPU steps -------------------------------------------------------------------------------


def test_cpu_steps_stay_off_gpu_nodes(compiled: dict) -> None:
    deployment = compiled["ir"]["deploymentSpec"]["executors"]
    for name, config in executors_of(compiled, CPU_STEPS).items():
        assert "accelerator" not in deployment[name]["container"].get("resources", {}), name
        assert "tolerations" not in config, f"{name} would tolerate the GPU taint"
        assert "emptyDirMounts" not in config
        assert parameter_name(config["nodeSelector"]["nodeSelectorJson"]) == "cpu_node_selector"


def test_every_step_requests_cpu_and_memory(compiled: dict) -> None:
    """Requests keep pods out of the BestEffort class (first to be evicted)."""
    for name, executor in compiled["ir"]["deploymentSpec"]["executors"].items():
        resources = executor["container"]["resources"]
        settings = k8s.STEPS[step_of(name)]
        assert resources["resourceCpuRequest"] == settings.cpu_request, name
        assert resources["resourceMemoryRequest"] == settings.memory_request, name


# --- build_dataset: teacher keys and cache ---------------------------------------------------


def test_only_the_data_build_reads_teacher_keys_and_cache(compiled: dict) -> None:
    for name, config in compiled["executors"].items():
        teacher = [s for s in config["secretAsEnv"] if s["secretName"] == k8s.TEACHER_SECRET]
        mounts = [m for m in config.get("pvcMount", []) if _pvc(m) == k8s.TEACHER_CACHE_PVC]
        if step_of(name) != "build-dataset":
            assert not teacher and not mounts, name
            continue
        (secret,) = teacher
        assert secret["optional"] is True, "offline-teacher runs need no Secret"
        assert [e["secretKey"] for e in secret["keyToEnv"]] == list(k8s.TEACHER_SECRET_KEYS)
        (mount,) = mounts
        assert mount["pvcNameParameter"]["runtimeValue"]["constant"] == "vlaa-teacher-cache"
        assert mount["mountPath"] == "/var/cache/vlaa"


def test_only_prepare_reads_the_hf_token_and_mounts_the_hf_cache(compiled: dict) -> None:
    """hf:// base models: HF_HOME on the cache PVC, HF_TOKEN from an optional Secret."""
    deployment = compiled["ir"]["deploymentSpec"]["executors"]
    for name, config in compiled["executors"].items():
        token = [s for s in config["secretAsEnv"] if s["secretName"] == k8s.HF_SECRET]
        mounts = [m for m in config.get("pvcMount", []) if m["mountPath"] == k8s.HF_CACHE_MOUNT]
        env = {e["name"]: e["value"] for e in deployment[name]["container"].get("env", [])}
        if step_of(name) != "prepare":
            assert not token and not mounts and "HF_HOME" not in env, name
            continue
        (secret,) = token
        assert secret["optional"] is True, "public models need no token"
        assert [e["secretKey"] for e in secret["keyToEnv"]] == ["HF_TOKEN"]
        (mount,) = mounts
        assert mount["pvcNameParameter"]["runtimeValue"]["constant"] == "vlaa-hf-cache"
        assert env["HF_HOME"] == mount["mountPath"] == "/var/cache/huggingface"


def _pvc(mount: dict[str, Any]) -> str:
    return mount["pvcNameParameter"]["runtimeValue"]["constant"]


def test_only_training_mounts_the_checkpoint_volume(compiled: dict) -> None:
    for name, config in compiled["executors"].items():
        mounts = [m for m in config.get("pvcMount", []) if _pvc(m) == k8s.CHECKPOINT_PVC]
        if step_of(name) not in {"sft", "grpo"}:
            assert not mounts, name
            continue
        (mount,) = mounts
        assert mount["mountPath"] == k8s.CHECKPOINT_MOUNT, name


# --- run parameters and sub-DAG wiring -------------------------------------------------------


def test_cluster_run_parameters_and_defaults(compiled: dict) -> None:
    parameters = compiled["ir"]["root"]["inputDefinitions"]["parameters"]
    expected = {
        "gpu_type": ("STRING", "nvidia.com/gpu"),
        "gpu_count": ("STRING", "1"),  # a STRING: see test_compiled_pipelines.py
        "gpu_node_selector": ("STRUCT", {}),
        "gpu_tolerations": ("LIST", []),  # extra taints; nvidia.com/gpu is always tolerated
        "cpu_node_selector": ("STRUCT", {}),
    }
    assert set(expected) == set(k8s.CLUSTER_PARAMETERS)
    for name, (kind, default) in expected.items():
        assert parameters[name]["parameterType"] == kind, name
        assert parameters[name]["defaultValue"] == default, name


def test_every_dag_passes_down_the_parameters_its_tasks_use(compiled: dict) -> None:
    """Each task's inputs, resource placeholders and platform settings name only parameters
    its DAG receives (KFP 2.17 forgets resource channels of tasks inside dsl.If)."""
    ir = compiled["ir"]
    executor_dags: dict[str, set[str]] = {}
    for dag_name, dag in dag_components(ir).items():
        received = set(dag.get("inputDefinitions", {}).get("parameters", {}))
        for task_name, task in dag["dag"]["tasks"].items():
            inputs = task["inputs"].get("parameters", {})
            for name, source in inputs.items():
                if "componentInputParameter" in source:
                    assert source["componentInputParameter"] in received, (dag_name, task_name)
                constant = source.get("runtimeValue", {}).get("constant")
                if isinstance(constant, str):
                    for used in _PLACEHOLDER.findall(constant):
                        assert used in inputs, (dag_name, task_name, name)
            component = ir["components"][task["componentRef"]["name"]]
            if "executorLabel" in component:
                executor_dags.setdefault(component["executorLabel"], set()).update(received)
    for name, config in compiled["executors"].items():
        selectors = [config["nodeSelector"]["nodeSelectorJson"]]
        selectors += [t["tolerationJson"] for t in config.get("tolerations", []) if "key" not in t]
        for selector in selectors:
            assert selector["componentInputParameter"] in executor_dags[name], name


# --- agreement with manifests/base -----------------------------------------------------------


def test_names_and_keys_match_the_manifests() -> None:
    runtime_env = manifest("base/runtime-env.yaml")
    assert runtime_env["metadata"]["name"] == k8s.RUNTIME_CONFIG_MAP
    assert list(runtime_env["data"]) == list(k8s.RUNTIME_ENV_KEYS)
    cache_dir = Path(runtime_env["data"]["VLAA_TEACHER_CACHE_DIR"])
    assert cache_dir.is_relative_to(k8s.TEACHER_CACHE_MOUNT)

    s3 = manifest("base/minio/secret-template.yaml")
    assert (s3["metadata"]["name"], tuple(s3["stringData"])) == (k8s.S3_SECRET, k8s.S3_SECRET_KEYS)
    teacher = manifest("base/teacher/secret-template.yaml")
    assert teacher["metadata"]["name"] == k8s.TEACHER_SECRET
    assert tuple(teacher["stringData"]) == k8s.TEACHER_SECRET_KEYS

    assert runtime_env["data"][CHECKPOINT_ENV] == k8s.CHECKPOINT_MOUNT
    checkpoints = manifest("base/checkpoints/pvc.yaml")
    assert checkpoints["metadata"]["name"] == k8s.CHECKPOINT_PVC
    assert checkpoints["spec"]["accessModes"] == ["ReadWriteMany"], "sft and grpo run at once"
    job = manifest("base/checkpoints/permissions-job.yaml")["spec"]["template"]["spec"]
    assert job["volumes"][0]["persistentVolumeClaim"]["claimName"] == k8s.CHECKPOINT_PVC
    assert job["containers"][0]["volumeMounts"][0]["mountPath"] == k8s.CHECKPOINT_MOUNT

    kustomization = manifest("base/kustomization.yaml")
    assert "teacher/secret-template.yaml" not in kustomization["resources"], "never applied"
    assert "teacher/pvc.yaml" in kustomization["resources"]
    assert "checkpoints/pvc.yaml" in kustomization["resources"]
    assert manifest("base/teacher/pvc.yaml")["metadata"]["name"] == k8s.TEACHER_CACHE_PVC
    job = manifest("base/teacher/cache-permissions-job.yaml")["spec"]["template"]["spec"]
    assert job["volumes"][0]["persistentVolumeClaim"]["claimName"] == k8s.TEACHER_CACHE_PVC
    assert job["containers"][0]["volumeMounts"][0]["mountPath"] == k8s.TEACHER_CACHE_MOUNT
    assert str(cache_dir) in job["containers"][0]["args"][0]

    assert "models/hf-cache-pvc.yaml" in kustomization["resources"]
    assert "models/hf-token-secret-template.yaml" not in kustomization["resources"]
    assert manifest("base/models/hf-cache-pvc.yaml")["metadata"]["name"] == k8s.HF_CACHE_PVC
    hf_token = manifest("base/models/hf-token-secret-template.yaml")
    assert hf_token["metadata"]["name"] == k8s.HF_SECRET
    assert tuple(hf_token["stringData"]) == k8s.HF_SECRET_KEYS
    job = manifest("base/models/hf-cache-permissions-job.yaml")["spec"]["template"]["spec"]
    assert job["volumes"][0]["persistentVolumeClaim"]["claimName"] == k8s.HF_CACHE_PVC
    assert job["containers"][0]["volumeMounts"][0]["mountPath"] == k8s.HF_CACHE_MOUNT


def test_kfp_kubernetes_still_cannot_set_a_priority_class() -> None:
    """A canary: when kfp-kubernetes learns priorityClassName, use it on the GPU steps
    (VLAA_PRIORITY_CLASS) instead of the vlaa.io/gpu-task label, and update docs/cluster.md."""
    fields = kubernetes_executor_config_pb2.KubernetesExecutorConfig.DESCRIPTOR.fields_by_name
    assert not [name for name in fields if "priority" in name]


def test_an_integer_gpu_count_parameter_is_refused_at_compile_time() -> None:
    """The driver would drop a NUMBER_INTEGER accelerator count (kubernetes.GPU_COUNT)."""

    @dsl.component(base_image=PROBE_IMAGE)
    def probe_gpu_int(text: str) -> None:
        pass

    def uses_int(gpu_count: int = 1, gpu_type: str = k8s.GPU_TYPE) -> None:
        k8s.place_on_gpu(probe_gpu_int(text="x"), k8s.Cluster(gpu_type, gpu_count, {}, [], {}))

    with pytest.raises(TypeError, match="gpu_count must be a str pipeline parameter, not Int"):
        dsl.pipeline(uses_int)


def test_configure_refuses_an_unknown_component() -> None:
    @dsl.component(base_image=PROBE_IMAGE)
    def stray() -> None:
        pass

    def uses_stray(gpu_type: str = k8s.GPU_TYPE) -> None:
        k8s.configure(stray(), k8s.Cluster(gpu_type, 1, {}, [], {}))

    with pytest.raises(KeyError, match="no Kubernetes settings for component 'stray'"):
        dsl.pipeline(uses_stray)  # building the graph runs the function


# --- the local runner ------------------------------------------------------------------------


@dsl.component(base_image=PROBE_IMAGE)
def probe_cpu(text: str) -> str:
    return text.upper()


@dsl.component(base_image=PROBE_IMAGE)
def probe_gpu(text: str, marker: str) -> None:
    from pathlib import Path

    Path(marker).write_text(f"{text}!")


def test_local_runner_ignores_the_kubernetes_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GPU placement inside a dsl.If branch, secrets, volumes, timeouts: the subprocess runner
    runs the pipeline as if none were there (they only warn)."""
    monkeypatch.setitem(k8s.STEPS, "probe-cpu", k8s.STEPS["build-dataset"])
    gpu_step = k8s.Step(k8s.Placement.GPU, k8s.HOUR, 0, True, "1", "1Gi", metrics_label=True)
    monkeypatch.setitem(k8s.STEPS, "probe-gpu", gpu_step)

    marker = tmp_path / "marker.txt"

    @dsl.pipeline
    def probe(
        marker: str,
        text: str = "ok",
        gpu_type: str = k8s.GPU_TYPE,
        gpu_count: str = k8s.GPU_COUNT,
        gpu_node_selector: dict = k8s.GPU_NODE_SELECTOR,
        gpu_tolerations: list = k8s.GPU_TOLERATIONS,
        cpu_node_selector: dict = k8s.CPU_NODE_SELECTOR,
    ) -> None:
        cluster = k8s.Cluster(
            gpu_type, gpu_count, gpu_node_selector, gpu_tolerations, cpu_node_selector
        )
        first = k8s.configure(probe_cpu(text=text), cluster)
        with dsl.If(text == "ok"):
            k8s.configure(probe_gpu(text=first.output, marker=marker), cluster)

    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=True,
    )
    probe(marker=str(marker))
    assert marker.read_text() == "OK!"
