"""Parse a ``base_model`` value into a :class:`ModelSource`: torch-free and without network, so
run-parameter validation (``vlaa.parameters``) refuses a bad form before any work starts.

Forms: ``tiny`` / ``tiny:SEED``; a folder path or ``file://PATH``; ``hf://ORG/NAME[@REVISION]``
(huggingface_hub's own ``parse_hf_uri`` grammar, model repos only, no path inside the repo);
``s3://BUCKET[/PREFIX]``; ``registry://NAME[@VERSION|@ALIAS]`` (alias ``latest`` if omitted).
Whether the thing named exists is checked when it is fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from vlaa.modeling.sources.errors import ModelSourceError, UnknownSchemeError
from vlaa.registry.config import NAME_PATTERN
from vlaa.registry.layout import VERSION_RE
from vlaa.storage import InvalidKeyError, check_key

SourceKind = Literal["tiny", "folder", "hf", "s3", "registry"]
SCHEMES = ("hf://", "s3://", "registry://", "file://")
FORMS = "'tiny', 'tiny:SEED', a model folder, file://, hf://ORG/NAME[@REV], s3://BUCKET/PREFIX, "
FORMS += "registry://NAME[@VERSION|ALIAS]"
DEFAULT_ALIAS = "latest"  # the publish step's default alias (vlaa.registry.config)
# S3 bucket naming rules (AWS "Bucket naming rules"; MinIO follows them).
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
NAME_RE = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class ModelSource:
    """A parsed ``base_model``; only the fields of its ``kind`` are set."""

    text: str
    kind: SourceKind
    seed: int = 0  # tiny
    path: str = ""  # folder
    repo_id: str = ""  # hf: ORG/NAME
    revision: str | None = None  # hf: branch, tag or commit; None = the default branch
    bucket: str = ""  # s3
    prefix: str = ""  # s3
    name: str = ""  # registry: the published model's name
    ref: str = ""  # registry: vNNNN or an alias

    @property
    def is_local(self) -> bool:
        """A folder on this machine (used in place by readers that do not copy)."""
        return self.kind == "folder"


def parse_model_source(text: str) -> ModelSource:
    """The source ``text`` names; :class:`ModelSourceError` (one line) if its form is bad."""
    text = text.strip() if isinstance(text, str) else text
    if not isinstance(text, str) or not text:
        raise ModelSourceError(f"base model {text!r} is empty; use one of {FORMS}")
    if text == "tiny" or text.startswith("tiny:"):
        seed = text.partition(":")[2] or "0"
        if not seed.isdigit():
            raise ModelSourceError(f"base model {text!r}: the seed after 'tiny:' must be a number")
        return ModelSource(text, "tiny", seed=int(seed))
    if text.startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise ModelSourceError(f"base model {text!r} names a remote host; use a local path")
        return ModelSource(text, "folder", path=unquote(parts.path))
    if text.startswith("hf://"):
        return _hf(text)
    if text.startswith("s3://"):
        return _s3(text)
    if text.startswith("registry://"):
        return _registry(text)
    if "://" in text:
        scheme = text.partition("://")[0] + "://"
        raise UnknownSchemeError(
            f"base model {text!r}: unknown scheme {scheme!r}; use one of {FORMS}"
        )
    return ModelSource(text, "folder", path=text)


def _hf(text: str) -> ModelSource:
    from huggingface_hub import parse_hf_uri  # lazily imported by huggingface_hub itself: cheap
    from huggingface_hub.errors import HfUriError

    try:
        parsed = parse_hf_uri(text)
    except HfUriError as error:
        raise ModelSourceError(f"base model {text!r}: {error}; use hf://ORG/NAME[@REV]") from None
    if parsed.type != "model":
        raise ModelSourceError(f"base model {text!r} names a {parsed.type}, not a model repo")
    if parsed.path_in_repo:
        raise ModelSourceError(
            f"base model {text!r}: a path inside the repo ({parsed.path_in_repo!r}) is not "
            "supported; name the repo, hf://ORG/NAME[@REV]"
        )
    return ModelSource(text, "hf", repo_id=parsed.id, revision=parsed.revision)


def _s3(text: str) -> ModelSource:
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise ModelSourceError(
            f"base model {text!r}: credentials in an s3:// URI are not accepted; set "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment"
        )
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if not BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ModelSourceError(f"base model {text!r}: {bucket!r} is not a valid S3 bucket name")
    if parts.query or parts.fragment:
        raise ModelSourceError(f"base model {text!r}: s3:// URIs take no '?' or '#' part")
    try:
        if prefix:
            check_key(prefix)
    except InvalidKeyError as error:
        raise ModelSourceError(f"base model {text!r}: bad prefix: {error}") from None
    return ModelSource(text, "s3", bucket=bucket, prefix=prefix)


def _registry(text: str) -> ModelSource:
    body = text.removeprefix("registry://")
    name, at, ref = body.partition("@")
    if not NAME_RE.fullmatch(name):
        raise ModelSourceError(
            f"base model {text!r}: {name!r} is not a registry model name; use "
            "registry://NAME@VERSION (e.g. @v0003) or registry://NAME@ALIAS (e.g. @production)"
        )
    if at and not ref:
        raise ModelSourceError(f"base model {text!r}: empty version or alias after '@'")
    ref = ref or DEFAULT_ALIAS
    if not (VERSION_RE.fullmatch(ref) or NAME_RE.fullmatch(ref)):
        raise ModelSourceError(
            f"base model {text!r}: {ref!r} is neither a version (v0001) nor an alias name"
        )
    return ModelSource(text, "registry", name=name, ref=ref)


def is_version(ref: str) -> bool:
    return VERSION_RE.fullmatch(ref) is not None
