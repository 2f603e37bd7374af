"""The base-model resolver: ``tiny``, folders and ``registry://`` (a version this test
publishes with the project's publish code), each ending in a model that loads; the lineage
from prepare's model artifact into the published model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from vlaa.components.prepare.runtime import run as run_prepare
from vlaa.components.publish.runtime import run as run_publish
from vlaa.modeling.base_models import SOURCE_FILE, local_model, resolve_base_model
from vlaa.modeling.loading import ModelLoadError, check_model_dir, load_model
from vlaa.modeling.sources.errors import ChecksumMismatchError, ModelNotFoundError
from vlaa.modeling.sources.files import folder_digest, hash_folder
from vlaa.registry.config import PublishConfig
from vlaa.registry.layout import version_prefix
from vlaa.registry.lineage import BASE_MODEL_METADATA
from vlaa.registry.publish import publish

NAME = "vlaa-tiny"


def model_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != SOURCE_FILE)


# ----------------------------------------------------------------------------- tiny, folders


def test_tiny_builds_the_pretrained_model_with_seed_zero(
    tmp_path: Path, quick_tiny_base: Path
) -> None:
    resolved = resolve_base_model("tiny", tmp_path / "base")
    provenance = json.loads((resolved.path / "vlaa_model.json").read_text())
    assert provenance["seed"] == 0 and "pretrained" in provenance["weights"]
    assert resolved.lineage["kind"] == "tiny" and resolved.lineage["seed"] == 0
    assert resolved.lineage["pretraining"]["settings"]["steps"] == 2
    assert (quick_tiny_base / "tiny-base" / resolved.lineage["pretraining"]["cache_key"]).is_dir()
    check_model_dir(resolved.path)


def test_tiny_with_a_seed(tmp_path: Path, quick_tiny_base: Path) -> None:
    resolved = resolve_base_model("tiny:3", tmp_path / "base")
    assert json.loads((resolved.path / "vlaa_model.json").read_text())["seed"] == 3


@pytest.mark.parametrize("source", ["tiny:x", "tiny:-1"])
def test_a_bad_tiny_seed_writes_nothing(source: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seed after 'tiny:' must be a number"):
        resolve_base_model(source, tmp_path / "base")
    assert not (tmp_path / "base").exists()


def test_a_folder_is_copied_with_its_digest(tiny_model_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "base"
    output.mkdir()
    (output / "stale.txt").write_text("left by an earlier attempt")
    resolved = resolve_base_model(str(tiny_model_dir), output)
    assert resolved.path == output and not (output / "stale.txt").exists()
    assert model_files(output) == model_files(tiny_model_dir)
    # The digest is sha256sum's lines over the model's files: reproducible from the source.
    assert resolved.lineage["sha256"] == folder_digest(hash_folder(tiny_model_dir))
    assert resolved.lineage["path"] == str(tiny_model_dir.resolve())
    again = resolve_base_model(f"file://{tiny_model_dir}", tmp_path / "again")
    assert again.lineage["sha256"] == resolved.lineage["sha256"]
    assert load_model(again.path, device="cpu").config.model_type == "qwen2_5_vl"


def test_a_folder_without_weights_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-weights"
    shutil.copytree(tiny_model_dir, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelLoadError, match=r"is missing: weights \(\*\.safetensors\)") as error:
        resolve_base_model(str(folder), tmp_path / "base")
    assert str(folder) in str(error.value) and "config.json" not in str(error.value)
    assert not (tmp_path / "base").exists()


def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_base_model(str(tmp_path / "nowhere"), tmp_path / "base")


def test_scorers_read_a_folder_in_place(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert local_model(str(tiny_model_dir), tmp_path / "cache") == tiny_model_dir
    assert not (tmp_path / "cache").exists()


# ----------------------------------------------------------------------------- registry://


@pytest.fixture(scope="module")
def registry(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two published versions of the tiny model; alias ``production`` -> v0002."""
    store = tmp_path_factory.mktemp("registry") / "store"
    config = PublishConfig(store_uri=str(store), model_name=NAME, alias="production")
    for run_id in ("run-1", "run-2"):
        lineage = {"pipeline_run_id": run_id, "code_version": "git:abc", "secret_token": "x"}
        publish(tiny_model_dir, config, {"accuracy": 0.5}, {}, {}, lineage)
    return store


@pytest.mark.parametrize(
    ("ref", "version", "run_id"), [("v0001", "v0001", "run-1"), ("production", "v0002", "run-2")]
)
def test_registry_by_version_and_by_alias(
    registry: Path, tiny_model_dir: Path, ref: str, version: str, run_id: str, tmp_path: Path
) -> None:
    source = f"registry://{NAME}@{ref}"
    resolved = resolve_base_model(source, tmp_path / "base", registry_uri=str(registry))
    lineage = resolved.lineage
    assert (lineage["model_name"], lineage["version"]) == (NAME, version)
    assert lineage.get("alias") == (None if ref == version else ref)
    assert lineage["published_lineage"] == {"pipeline_run_id": run_id, "code_version": "git:abc"}
    # The model's files, not the card / manifest the registry generated.
    assert model_files(resolved.path) == model_files(tiny_model_dir)
    assert lineage["sha256"] == folder_digest(hash_folder(tiny_model_dir))
    assert load_model(resolved.path, device="cpu").config.model_type == "qwen2_5_vl"


def test_registry_store_from_the_environment(
    registry: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VLAA_REGISTRY_URI", str(registry))
    resolved = resolve_base_model(f"registry://{NAME}@production", tmp_path / "base")
    assert resolved.lineage["store"] == str(registry)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (f"registry://{NAME}", "no alias 'latest' .* \\(complete versions: v0001, v0002\\)"),
        (f"registry://{NAME}@v0009", "v0009 is not a complete version"),
        ("registry://other@production", "no alias 'production' for 'other'"),
    ],
)
def test_registry_names_what_is_missing(
    registry: Path, source: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ModelNotFoundError, match=message):
        resolve_base_model(source, tmp_path / "base", registry_uri=str(registry))


def test_a_registry_file_that_fails_its_manifest_checksum(registry: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(registry, store)
    weights = next((store / version_prefix(NAME, "v0001")).glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ChecksumMismatchError, match=f"{weights.name} fails its manifest"):
        resolve_base_model(f"registry://{NAME}@v0001", tmp_path / "base", registry_uri=str(store))


# ----------------------------------------------------------------------------- lineage to card


def test_lineage_from_prepare_reaches_the_published_card(registry: Path, tmp_path: Path) -> None:
    """prepare records the lineage on its model artifact; sft / grpo copy it onto theirs
    (components/training.py); publish writes it into the card and manifest."""
    model = SimpleNamespace(
        path=str(tmp_path / "prepared"), uri=str(tmp_path / "prepared"), metadata={}
    )
    out_store = tmp_path / "out"
    publish_config = {"store_uri": str(registry), "model_name": "retrained"}
    groups = {"data": {}, "sft": {}, "grpo": {}, "evaluate": {}, "publish": publish_config}
    source = f"registry://{NAME}@production"
    run_prepare({"base_model": source, "grpo_init": "sft", **groups, "model": model})
    lineage = model.metadata[BASE_MODEL_METADATA]
    assert (lineage["version"], lineage["alias"]) == ("v0002", "production")

    (tmp_path / "card").mkdir()
    published = SimpleNamespace(
        path=str(tmp_path / "published.json"), uri=str(tmp_path / "published.json"), metadata={}
    )
    card = SimpleNamespace(
        path=str(tmp_path / "README.md"), uri=str(tmp_path / "README.md"), metadata={}
    )
    run_publish(
        {
            "model": model,  # as the trained model's artifact carries it
            "eval_report": SimpleNamespace(
                path=str(tmp_path / "none.json"), uri=str(tmp_path / "none.json"), metadata={}
            ),
            "base_report": SimpleNamespace(
                path=str(tmp_path / "none.json"), uri=str(tmp_path / "none.json"), metadata={}
            ),
            "card_files": SimpleNamespace(
                path=str(tmp_path / "card"), uri=str(tmp_path / "card"), metadata={}
            ),
            "config": {"store_uri": str(out_store), "model_name": "retrained"},
            "arm": "sft",
            "run_id": "run-3",
            "published": published,
            "model_card": card,
        }
    )
    text = Path(card.path).read_text()
    assert f"base_model: registry://{NAME}@production" in text
    assert "| base_model_source.version | v0002 |" in text
    assert f"| base_model_source.manifest_sha256 | {lineage['manifest_sha256']} |" in text
    manifest_path = out_store / version_prefix("retrained", "v0001") / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["lineage"]["base_model_source"]["sha256"] == lineage["sha256"]


def test_scorers_fetch_other_forms_into_their_cache(registry: Path, tmp_path: Path) -> None:
    source = f"registry://{NAME}@v0001"
    path = local_model(source, tmp_path / "cache", registry_uri=str(registry))
    assert path.parent == tmp_path / "cache"
    assert json.loads((path / SOURCE_FILE).read_text())["version"] == "v0001"
    check_model_dir(path)


# ----------------------------------------------------------------------------- vlaa prepare


def test_vlaa_prepare_runs_the_resolver_without_kfp(tiny_model_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vlaa.cli import app

    output = tmp_path / "base"
    result = CliRunner().invoke(
        app, ["prepare", "--base-model", f"file://{tiny_model_dir}", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((output / SOURCE_FILE).read_text())["kind"] == "folder"
    check_model_dir(output)
    refused = CliRunner().invoke(app, ["prepare", "--base-model", "gs://b/m", "--output", "x"])
    assert refused.exit_code == 1
    assert "unknown scheme 'gs://'" in refused.output and "hf://ORG/NAME[@REV]" in refused.output
