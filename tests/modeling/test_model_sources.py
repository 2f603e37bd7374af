"""The forms a base model may take, parsed without network; bad ones refused in one line by
run-parameter validation and the SFT config before any work."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vlaa.modeling.sources.errors import ModelSourceError, UnknownSchemeError
from vlaa.modeling.sources.uri import ModelSource, parse_model_source
from vlaa.parameters import ParameterError, validate_parameters
from vlaa.training.config import SFTStepConfig


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("tiny", {"kind": "tiny", "seed": 0}),
        ("tiny:7", {"kind": "tiny", "seed": 7}),
        ("/models/qwen", {"kind": "folder", "path": "/models/qwen"}),
        ("relative/model", {"kind": "folder", "path": "relative/model"}),
        ("file:///models/my%20model", {"kind": "folder", "path": "/models/my model"}),
        (
            "hf://Qwen/Qwen2.5-VL-3B-Instruct",
            {"kind": "hf", "repo_id": "Qwen/Qwen2.5-VL-3B-Instruct", "revision": None},
        ),
        ("hf://org/name@v1.0", {"kind": "hf", "repo_id": "org/name", "revision": "v1.0"}),
        ("hf://org/name@refs/pr/3", {"kind": "hf", "repo_id": "org/name", "revision": "refs/pr/3"}),
        ("s3://models/qwen/3b/", {"kind": "s3", "bucket": "models", "prefix": "qwen/3b"}),
        ("s3://models", {"kind": "s3", "bucket": "models", "prefix": ""}),
        ("registry://m-7b@production", {"kind": "registry", "name": "m-7b", "ref": "production"}),
        ("registry://vlaa-7b@v0012", {"kind": "registry", "name": "vlaa-7b", "ref": "v0012"}),
        ("registry://vlaa-7b", {"kind": "registry", "name": "vlaa-7b", "ref": "latest"}),
    ],
)
def test_accepted_forms(text: str, fields: dict) -> None:
    source = parse_model_source(text)
    assert isinstance(source, ModelSource) and source.text == text
    assert {name: getattr(source, name) for name in fields} == fields


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("gs://bucket/model", UnknownSchemeError, "unknown scheme 'gs://'"),
        ("https://huggingface.co/Qwen/x", UnknownSchemeError, "unknown scheme 'https://'"),
        ("", ModelSourceError, "is empty"),
        ("tiny:x", ModelSourceError, "seed after 'tiny:' must be a number"),
        ("tiny:-1", ModelSourceError, "seed after 'tiny:' must be a number"),
        ("hf://Qwen", ModelSourceError, "namespace/name"),
        ("hf://org/name@", ModelSourceError, "Empty revision"),
        ("hf://datasets/org/name", ModelSourceError, "names a dataset, not a model repo"),
        ("hf://org/name/config.json", ModelSourceError, "a path inside the repo"),
        ("s3://Bad_Bucket/x", ModelSourceError, "not a valid S3 bucket name"),
        ("s3://key:secret@bucket/x", ModelSourceError, "credentials in an s3:// URI"),
        ("s3://bucket/a/../b", ModelSourceError, "bad prefix"),
        ("registry://", ModelSourceError, "not a registry model name"),
        ("registry://m@", ModelSourceError, "empty version or alias"),
        ("registry://m@no!", ModelSourceError, "neither a version"),
        ("file://host/models/x", ModelSourceError, "remote host"),
    ],
)
def test_refused_forms_say_why_in_one_line(text: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        parse_model_source(text)
    assert "\n" not in str(caught.value)


def test_run_parameters_refuse_a_bad_base_model_before_any_work() -> None:
    with pytest.raises(ParameterError, match=r"parameters\.base_model: .*unknown scheme 'gs://'"):
        validate_parameters({"base_model": "gs://bucket/model"})
    assert (
        validate_parameters({"base_model": "hf://org/name@main"}).base_model == "hf://org/name@main"
    )


def test_perplexity_models_take_the_same_forms() -> None:
    fields = {"subset_strategy": "perplexity", "subset_size": 4}
    config = SFTStepConfig(**fields, perplexity_models=["hf://org/a", "/models/b", "s3://mdl/c"])
    assert len(config.perplexity_models) == 3
    with pytest.raises(ValidationError, match="unknown scheme 'ftp://'"):
        SFTStepConfig(**fields, perplexity_models=["ftp://host/model"])
