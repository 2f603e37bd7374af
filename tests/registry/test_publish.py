"""Publishing: versions, manifests written last, immutability, the gate, the model card."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import save_file

from vlaa.registry.card import looks_secret, scrub
from vlaa.registry.config import PublishConfig
from vlaa.registry.errors import ModelFolderError, PublishStoreError, VersionExistsError
from vlaa.registry.layout import list_versions, resolve_alias
from vlaa.registry.lineage import code_version
from vlaa.registry.publish import publish
from vlaa.registry.store import plan_files, verify_version, write_version
from vlaa.storage import LocalStore, StoreError, open_store

MODEL = "tiny"
METRICS = {"accuracy": 0.75, "benchmarks": {"colour": 1.0, "count": 0.5}}
DATA_CARD = {"name": "synthetic-shapes", "counts": {"sft": 120, "rl": 40, "eval": 20}}
LINEAGE = {
    "pipeline_run_id": "run-123",
    "code_version": "0e75cc3",
    "dataset_hash": "sha256:abc",
    "base_model": "local/tiny-qwen2.5-vl",
}


def make_model(folder: Path, weights: bool = True, tokenizer: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if weights:
        save_file(
            {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, folder / "model.safetensors"
        )
    if tokenizer:
        (folder / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    (folder / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    (folder / "README.md").write_text("trainer-written card, replaced on publish")
    (folder / "checkpoint-10").mkdir(exist_ok=True)
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"resumable state, not published")
    return folder


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return make_model(tmp_path / "model")


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "registry"


def config(store_dir: Path, **overrides: Any) -> PublishConfig:
    return PublishConfig(store_uri=str(store_dir), model_name=MODEL, **overrides)


def run_publish(model_dir: Path, cfg: PublishConfig, **overrides: Any):
    args: dict[str, Any] = {
        "metrics": METRICS,
        "train_config": {"learning_rate": 1e-6},
        "data_card": DATA_CARD,
        "lineage": LINEAGE,
    }
    args.update(overrides)
    return publish(model_dir, cfg, **args)


def manifest_of(store_dir: Path, version: str) -> dict[str, Any]:
    return json.loads((store_dir / MODEL / "versions" / version / "manifest.json").read_text())


# ----------------------------------------------------------------------------- versions


def test_publish_creates_successive_versions(model_dir: Path, store_dir: Path) -> None:
    first = run_publish(model_dir, config(store_dir))
    second = run_publish(model_dir, config(store_dir))
    assert (first.version, second.version) == ("v0001", "v0002")
    assert first.uri == f"{store_dir}/{MODEL}/versions/v0001"
    assert first.promoted and second.promoted
    store = open_store(str(store_dir))
    assert list_versions(store, MODEL) == ["v0001", "v0002"]
    assert resolve_alias(store, MODEL, "latest") == "v0002"


def test_manifest_is_written_last_with_right_checksums(
    model_dir: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    for method in ("put_file", "put_bytes", "put_bytes_if_absent", "put_bytes_if_tag"):
        original = getattr(LocalStore, method)

        def record(
            self: LocalStore, key: str, *args: Any, _original: Any = original, **kw: Any
        ) -> Any:
            order.append(key)
            return _original(self, key, *args, **kw)

        monkeypatch.setattr(LocalStore, method, record)
    run_publish(model_dir, config(store_dir))

    assert order[0] == f"{MODEL}/claims/v0001.json"  # the number is owned before any upload
    version_keys = [key for key in order if "/versions/" in key]
    assert version_keys[-1] == f"{MODEL}/versions/v0001/manifest.json"
    assert order[-1] == f"{MODEL}/aliases/latest.json"  # the alias moves only after completion

    manifest = manifest_of(store_dir, "v0001")
    folder = store_dir / MODEL / "versions" / "v0001"
    paths = sorted(entry["path"] for entry in manifest["files"])
    assert paths == ["README.md", "config.json", "model.safetensors", "tokenizer_config.json"]
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert (folder / "model.safetensors").read_bytes() == (
        model_dir / "model.safetensors"
    ).read_bytes()
    assert manifest["lineage"] == LINEAGE and manifest["version"] == "v0001"
    assert manifest["created"].endswith("+00:00")
    assert verify_version(open_store(str(store_dir)), MODEL, "v0001")["version"] == "v0001"


def test_verify_version_detects_corruption(model_dir: Path, store_dir: Path) -> None:
    run_publish(model_dir, config(store_dir))
    (store_dir / MODEL / "versions" / "v0001" / "config.json").write_text("{}")
    with pytest.raises(Exception, match=r"config\.json fails its checksum"):
        verify_version(open_store(str(store_dir)), MODEL, "v0001")


def test_interrupted_publish_is_resumed_by_a_retry(
    model_dir: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the first upload: the same publish again resumes its own claim."""
    run_publish(model_dir, config(store_dir))
    uploaded: list[str] = []
    original = LocalStore.put_file

    def crash_on_weights(self: LocalStore, key: str, path: Path, sha256: str | None = None) -> None:
        if key.endswith("model.safetensors"):
            raise StoreError("the store went away")
        uploaded.append(key)
        original(self, key, path, sha256)

    monkeypatch.setattr(LocalStore, "put_file", crash_on_weights)
    with pytest.raises(PublishStoreError, match="run the same publish again to resume"):
        run_publish(model_dir, config(store_dir))
    monkeypatch.undo()
    assert uploaded == [f"{MODEL}/versions/v0002/config.json"]
    store = open_store(str(store_dir))
    assert list_versions(store, MODEL) == ["v0001"]
    assert resolve_alias(store, MODEL, "latest") == "v0001"

    # A different publish (other metrics) never writes into the interrupted version.
    other = run_publish(model_dir, config(store_dir), metrics={"accuracy": 0.8})
    assert (other.version, other.resumed) == ("v0003", False)

    result = run_publish(model_dir, config(store_dir))
    assert (result.version, result.resumed) == ("v0002", True)
    assert list_versions(store, MODEL) == ["v0001", "v0002", "v0003"]
    assert verify_version(store, MODEL, "v0002")["version"] == "v0002"
    assert (result.alias_version, resolve_alias(store, MODEL, "latest")) == ("v0003", "v0003")


def test_incomplete_version_is_hidden_and_its_number_skipped(
    model_dir: Path, store_dir: Path
) -> None:
    """Choice: numbering continues after the highest folder, complete or not, so a retry after
    a crash never mixes its files with the interrupted upload's leftovers."""
    run_publish(model_dir, config(store_dir))
    crashed = store_dir / MODEL / "versions" / "v0002"
    crashed.mkdir(parents=True)
    (crashed / "model.safetensors").write_bytes(b"partial upload")
    store = open_store(str(store_dir))
    assert list_versions(store, MODEL) == ["v0001"]

    result = run_publish(model_dir, config(store_dir))
    assert (result.version, result.resumed) == ("v0003", False)
    assert list_versions(store, MODEL) == ["v0001", "v0003"]
    assert (crashed / "model.safetensors").read_bytes() == b"partial upload"  # untouched
    with pytest.raises(VersionExistsError, match="v0002 is not claimed"):
        write_version(store, MODEL, "v0002", "card", {}, plan_files(model_dir), owner="me")


def test_existing_version_is_never_overwritten(
    model_dir: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_publish(model_dir, config(store_dir))
    before = (store_dir / MODEL / "versions" / "v0001" / "manifest.json").read_bytes()
    store = open_store(str(store_dir))
    with pytest.raises(VersionExistsError, match="already exists"):
        write_version(store, MODEL, "v0001", "card", {}, plan_files(model_dir), owner="me")

    # A publisher that computed the same next number (a race) loses the claim and moves on.
    monkeypatch.setattr("vlaa.registry.claims.next_version", lambda store, name: "v0001")
    assert run_publish(model_dir, config(store_dir)).version == "v0002"
    assert (store_dir / MODEL / "versions" / "v0001" / "manifest.json").read_bytes() == before
    # Nor does anyone write into a version claimed by another publisher.
    (store_dir / MODEL / "claims" / "v0003.json").write_text('{"owner": "someone-else"}')
    with pytest.raises(VersionExistsError, match="claimed by another publisher"):
        write_version(store, MODEL, "v0003", "card", {}, plan_files(model_dir), owner="me")
    assert not (store_dir / MODEL / "versions" / "v0003").exists()


# ----------------------------------------------------------------------------- gate


def test_gate_failure_publishes_but_does_not_promote(model_dir: Path, store_dir: Path) -> None:
    good = run_publish(model_dir, config(store_dir, gate_min_accuracy=0.5))
    bad = run_publish(
        model_dir, config(store_dir, gate_min_accuracy=0.5), metrics={"accuracy": 0.25}
    )
    assert good.promoted and not bad.promoted
    assert "below the gate" in bad.reason and "0.25" in bad.reason
    store = open_store(str(store_dir))
    assert list_versions(store, MODEL) == ["v0001", "v0002"]  # published
    assert resolve_alias(store, MODEL, "latest") == "v0001"  # alias unchanged
    assert manifest_of(store_dir, "v0002")["gate"]["passed"] is False


def test_gate_without_accuracy_never_promotes(model_dir: Path, store_dir: Path) -> None:
    result = run_publish(model_dir, config(store_dir, gate_min_accuracy=0.1), metrics={"loss": 1})
    assert not result.promoted and "no numeric 'accuracy'" in result.reason
    assert resolve_alias(open_store(str(store_dir)), MODEL, "latest") is None


BASE = {"accuracy": 0.5, "accuracy_digit": 0.6, "accuracy_mcq": 0.4, "format_rate": 0.9}


@pytest.mark.parametrize(
    ("overrides", "metrics", "promoted", "expected"),
    [
        ({"gate_min_average_delta": 0.05}, {"accuracy": 0.56}, True, r"0\.56 >= base.*0\.5.*0\.55"),
        ({"gate_min_average_delta": 0.05}, {"accuracy": 0.54}, False, r"0\.54 is below base"),
        # average = mean of accuracy_* when there is no overall accuracy
        ({"gate_min_average_delta": 0.0}, {"accuracy_digit": 0.7, "accuracy_mcq": 0.5}, True, ""),
        ({"gate_min_average_delta": 0.0}, {"format_rate": 1.0}, False, "no accuracy scores"),
        ({"gate_floors": {"accuracy_mcq": 0.3}}, {"accuracy_mcq": 0.35}, True, "0.35 >= 0.3"),
        ({"gate_floors": {"accuracy_mcq": 0.3}}, {"accuracy_mcq": 0.2}, False, "below its floor"),
        (
            {"gate_floors": {"accuracy_iou": 0.3}},
            {"accuracy": 0.9},
            False,
            "'accuracy_iou' is missing",
        ),
        (
            {
                "gate_min_accuracy": 0.5,
                "gate_min_average_delta": 0.0,
                "gate_floors": {"format_rate": 0.8},
            },
            {"accuracy": 0.6, "format_rate": 0.7},
            False,
            r"format_rate 0\.7 is below its floor 0\.8; published but not promoted",
        ),
    ],
)
def test_gate_against_the_base_model_and_floors(
    model_dir: Path,
    store_dir: Path,
    overrides: dict[str, Any],
    metrics: dict[str, Any],
    promoted: bool,
    expected: str,
) -> None:
    result = run_publish(
        model_dir, config(store_dir, **overrides), metrics=metrics, base_metrics=BASE
    )
    assert result.promoted is promoted
    assert re.search(expected, result.reason), result.reason
    assert resolve_alias(open_store(str(store_dir)), MODEL, "latest") == (
        "v0001" if promoted else None
    )
    gate = manifest_of(store_dir, "v0001")["gate"]
    assert gate["passed"] is promoted and gate["reason"] == result.reason
    assert result.gate["checks"] and all("message" in check for check in result.gate["checks"])
    _, body = read_card(store_dir)
    assert "| gate check | result |" in body and ("FAIL: " in body) is not promoted
    assert "| metric | this model | base model |" in body


def test_gate_delta_without_base_report_never_promotes(model_dir: Path, store_dir: Path) -> None:
    result = run_publish(model_dir, config(store_dir, gate_min_average_delta=0.0))
    assert not result.promoted and "base model's eval report has no accuracy" in result.reason


def test_kserve_inference_service_is_written_before_the_manifest(
    model_dir: Path, store_dir: Path
) -> None:
    cfg = config(store_dir, serving="kserve-vllm", serving_service_account="vlaa-models")
    result = run_publish(model_dir, cfg)
    path = store_dir / MODEL / "versions" / "v0001" / "inference_service.yaml"
    service = yaml.safe_load(path.read_text())
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    assert service["metadata"]["name"] == "tiny-v0001"
    predictor = service["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "vlaa-models"
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    assert model["storageUri"] == result.uri
    assert "--backend=vllm" in model["args"] and "--model_dir=/mnt/models" in model["args"]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    listed = {entry["path"] for entry in manifest_of(store_dir, "v0001")["files"]}
    assert "inference_service.yaml" in listed  # checksummed like every other file
    assert "inference_service.yaml" in result.files
    assert not (store_dir / MODEL / "versions" / "v0001" / "inference_service.yaml").is_dir()
    # no serving requested -> no manifest file
    run_publish(model_dir, config(store_dir))
    assert not (store_dir / MODEL / "versions" / "v0002" / "inference_service.yaml").exists()


def test_code_version_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLAA_CODE_VERSION", "abc1234")
    assert code_version() == "abc1234"
    monkeypatch.delenv("VLAA_CODE_VERSION")
    assert code_version().startswith(("git:", "vlaa-thinker "))


def test_custom_alias(model_dir: Path, store_dir: Path) -> None:
    run_publish(model_dir, config(store_dir, alias="production", gate_min_accuracy=0.7))
    store = open_store(str(store_dir))
    assert resolve_alias(store, MODEL, "production") == "v0001"
    assert resolve_alias(store, MODEL, "latest") is None


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("weights", "tokenizer", "missing"),
    [
        (False, True, r"weights \(\*\.safetensors\)"),
        (True, False, r"tokenizer / processor \(tokenizer\.json or tokenizer_config\.json\)"),
    ],
)
def test_model_folder_without_essentials_is_refused(
    tmp_path: Path, store_dir: Path, weights: bool, tokenizer: bool, missing: str
) -> None:
    folder = make_model(tmp_path / "incomplete-model", weights=weights, tokenizer=tokenizer)
    with pytest.raises(ModelFolderError, match=missing) as caught:
        run_publish(folder, config(store_dir))
    assert str(folder) in str(caught.value)
    assert not store_dir.exists()  # nothing was uploaded


def test_missing_model_folder_is_refused(tmp_path: Path, store_dir: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist"):
        run_publish(tmp_path / "nope", config(store_dir))


def test_config_is_strict_and_has_paper_defaults() -> None:
    defaults = PublishConfig()
    assert (defaults.model_name, defaults.alias, defaults.gate_min_accuracy) == (
        "vlaa-thinker-tiny",
        "latest",
        None,
    )
    assert (defaults.gate_min_average_delta, defaults.gate_floors, defaults.serving) == (
        None,
        {},
        "none",
    )
    with pytest.raises(ValueError):
        PublishConfig(serving="seldon")
    with pytest.raises(ValueError):
        PublishConfig(unknown_field=1)
    with pytest.raises(ValueError):
        PublishConfig(model_name="../escape")


# ----------------------------------------------------------------------------- model card


def read_card(store_dir: Path, version: str = "v0001") -> tuple[dict[str, Any], str]:
    text = (store_dir / MODEL / "versions" / version / "README.md").read_text()
    assert text.startswith("---\n")
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


def test_model_card_front_matter_parses(model_dir: Path, store_dir: Path) -> None:
    run_publish(model_dir, config(store_dir))
    front, body = read_card(store_dir)
    assert front["library_name"] == "transformers"
    assert front["pipeline_tag"] == "image-text-to-text"
    assert front["license"] == "apache-2.0"
    assert front["base_model"] == "local/tiny-qwen2.5-vl"
    assert "vlaa-thinking" in front["tags"]
    results = front["model-index"][0]["results"][0]
    metrics = {m["name"]: m["value"] for m in results["metrics"]}
    assert metrics == {"accuracy": 0.75, "benchmarks.colour": 1.0, "benchmarks.count": 0.5}
    assert results["dataset"]["name"] == "synthetic-shapes"
    for expected in ("| accuracy | 0.75 |", "run-123", "0e75cc3", "sha256:abc", "learning_rate"):
        assert expected in body
    assert "| counts.sft | 120 |" in body  # counts rendered when no markdown is given
    assert "never recorded" in body
    assert "trainer-written card" not in body


def test_model_card_uses_data_card_markdown(model_dir: Path, store_dir: Path) -> None:
    card = {"markdown": "## Dataset\n\n120 SFT records, 3 quarantined.", "counts": {"sft": 120}}
    run_publish(model_dir, config(store_dir), data_card=card)
    _, body = read_card(store_dir)
    assert "120 SFT records, 3 quarantined." in body
    assert "| counts.sft |" not in body


def test_secrets_are_scrubbed_everywhere(model_dir: Path, store_dir: Path) -> None:
    train_config = {
        "learning_rate": 1e-6,
        "max_new_tokens": 800,
        "api_key": "LEAK-api",
        "teacher": {"apiKey": "LEAK-camel", "endpoint": "https://user:LEAK-url@host/v1"},
        "s3": {"aws_secret_access_key": "LEAK-s3", "access_key_id": "LEAK-id"},
        "hf_token": "LEAK-hf",
        "db_password": "LEAK-pw",
        "eos_token_id": 2,
    }
    lineage = {**LINEAGE, "registry_token": "LEAK-lineage"}
    run_publish(model_dir, config(store_dir), train_config=train_config, lineage=lineage)
    everything = "".join(p.read_text() for p in store_dir.rglob("*.json")) + "".join(
        p.read_text() for p in store_dir.rglob("*.md")
    )
    assert "LEAK" not in everything
    _, body = read_card(store_dir)
    assert "max_new_tokens: 800" in body and "eos_token_id: 2" in body
    assert "<redacted>" in body


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("apiKey", True),
        ("OPENAI_API_KEY", True),
        ("aws_secret_access_key", True),
        ("hf_token", True),
        ("password", True),
        ("client_credentials", True),
        ("max_new_tokens", False),
        ("tokenizer_name", False),
        ("learning_rate", False),
        ("key", False),  # a toleration's or selector's key: nvidia.com/gpu
        ("ssh_key", True),
    ],
)
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_scrub_keeps_structure() -> None:
    assert scrub({"a": [1, {"token": "x"}], "b": float("nan")}) == {
        "a": [1, {"token": "<redacted>"}],
        "b": "nan",
    }
