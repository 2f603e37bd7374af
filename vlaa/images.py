"""Container images the components run in on a cluster; one registry and tag for all.

Set when compiling (``vlaa compile``); ``images/build.sh`` (``make images``) writes them to
``images/images.env`` after a push:

- ``VLAA_IMAGE_REGISTRY``: registry and namespace (default ``ghcr.io/vlaa-thinker``);
- ``VLAA_IMAGE_TAG``: the tag (default the package version); a bare digest
  (``sha256:...``) or ``tag@sha256:...`` is accepted too and pins every image to it;
- ``VLAA_IMAGE_DIGEST_TRAINER`` / ``VLAA_IMAGE_DIGEST_TOOLS``: per-image digest, as
  ``sha256:...`` or as a whole ``registry/name[:tag]@sha256:...`` reference (used as is).

With a digest the reference is ``registry/name:tag@sha256:...``: Kubernetes pulls by the
digest, the tag stays for people. Locally the images are not used: KFP's SubprocessRunner
runs every step in the current Python environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from vlaa import __version__

DEFAULT_REGISTRY = "ghcr.io/vlaa-thinker"
TRAINER = "vlaa-trainer"
TOOLS = "vlaa-tools"

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def digest_variable(name: str) -> str:
    """``vlaa-trainer`` -> ``VLAA_IMAGE_DIGEST_TRAINER``."""
    short = name.removeprefix("vlaa-").upper().replace("-", "_").replace(".", "_")
    return f"VLAA_IMAGE_DIGEST_{short}"


def _check_digest(value: str, variable: str) -> str:
    if not _DIGEST.fullmatch(value):
        raise ValueError(f"{variable}={value!r}: a digest is 'sha256:' and 64 lowercase hex digits")
    return value


def image(name: str, env: Mapping[str, str] | None = None) -> str:
    """The reference for image ``name`` under the current (or given) environment."""
    env = os.environ if env is None else env
    variable = digest_variable(name)
    digest = env.get(variable, "").strip()
    if "@" in digest:  # a whole reference, e.g. pasted from `make images`
        reference, _, value = digest.rpartition("@")
        _check_digest(value, variable)
        if not reference:
            raise ValueError(f"{variable}={digest!r}: nothing before '@'")
        return digest

    registry = (env.get("VLAA_IMAGE_REGISTRY") or DEFAULT_REGISTRY).strip().rstrip("/")
    tag = (env.get("VLAA_IMAGE_TAG") or __version__).strip()
    if "@" in tag:  # tag@sha256:... pins every image to the same digest
        tag, _, tag_digest = tag.partition("@")
        digest = digest or _check_digest(tag_digest, "VLAA_IMAGE_TAG")
    elif tag.startswith("sha256:"):
        _check_digest(tag, "VLAA_IMAGE_TAG")
        return f"{registry}/{name}@{digest or tag}"
    if tag and not _TAG.fullmatch(tag):
        raise ValueError(f"VLAA_IMAGE_TAG={tag!r} is not a valid image tag")
    reference = f"{registry}/{name}" + (f":{tag}" if tag else "")
    if digest:
        reference += "@" + _check_digest(digest, variable)
    return reference


TRAINER_IMAGE = image(TRAINER)
TOOLS_IMAGE = image(TOOLS)
