"""Container images the components run in on a cluster; one registry and tag for all.

Set ``VLAA_IMAGE_REGISTRY`` / ``VLAA_IMAGE_TAG`` when compiling (a tag may be a digest,
``sha256:...``). Locally the images are not used: KFP's SubprocessRunner runs every step in
the current Python environment.
"""

from __future__ import annotations

import os

from vlaa import __version__

DEFAULT_REGISTRY = "ghcr.io/vlaa-thinker"


def image(name: str) -> str:
    registry = os.environ.get("VLAA_IMAGE_REGISTRY", DEFAULT_REGISTRY).rstrip("/")
    tag = os.environ.get("VLAA_IMAGE_TAG", __version__)
    separator = "@" if tag.startswith("sha256:") else ":"
    return f"{registry}/{name}{separator}{tag}"


TRAINER_IMAGE = image("vlaa-trainer")
TOOLS_IMAGE = image("vlaa-tools")
