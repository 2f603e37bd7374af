"""The images a local containerized run needs: present on this machine, and built from these
sources. Checked before the first task starts, so a missing or stale image is one clear error
rather than a pull failure (no registry may be reachable) or old code running half a DAG."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vlaa.containers.source_hash import LABEL_SOURCE, checkout_root, source_sha256
from vlaa.errors import UserError


class MissingImage(UserError):
    """An image the pipeline names is not on this machine."""


class StaleImage(UserError):
    """An image was built from other sources than this checkout."""


@dataclass(frozen=True)
class LocalImage:
    """An image as the engine holds it: ``image_id`` is the config digest it runs by;
    ``repo_digests`` are registry manifest digests (empty for an image never pushed)."""

    reference: str
    image_id: str
    repo_digests: tuple[str, ...]
    source_sha256: str | None

    def record(self) -> dict[str, Any]:
        return {
            "image": self.reference,
            "image_id": self.image_id,
            "repo_digests": list(self.repo_digests),
            "source_sha256": self.source_sha256,
        }


def with_default_tag(reference: str) -> str:
    """``name`` -> ``name:latest`` as KFP's runner does (kfp/local/docker_task_handler.py,
    ``add_latest_tag_if_not_present``); a ``@sha256:`` reference is left as it is."""
    last = reference.rsplit("/", 1)[-1]
    return reference if ":" in last or "@" in last else f"{reference}:latest"


def inspect_image(client: Any, reference: str, engine_name: str) -> LocalImage:
    """The local image ``reference``; :class:`MissingImage` when the engine has none."""
    import docker

    reference = with_default_tag(reference)
    try:
        found = client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise MissingImage(
            f"image {reference} is not on this machine ({engine_name}): build it with "
            "`make images` (docs/containers.md), or pull it"
        ) from None
    labels = found.labels or {}
    return LocalImage(
        reference=reference,
        image_id=found.id,
        repo_digests=tuple(found.attrs.get("RepoDigests") or ()),
        source_sha256=labels.get(LABEL_SOURCE),
    )


def check_images(
    client: Any, references: Iterable[str], engine_name: str, allow_stale: bool = False
) -> dict[str, LocalImage]:
    """Every image in ``references``, present and (from a checkout, unless ``allow_stale``)
    labelled with this checkout's source hash."""
    images = {ref: inspect_image(client, ref, engine_name) for ref in sorted(set(references))}
    root = checkout_root()
    if allow_stale or root is None:
        return images
    current = source_sha256(root)
    for image in images.values():
        if image.source_sha256 != current:
            built = (image.source_sha256 or "unlabelled")[:12]
            raise StaleImage(
                f"image {image.reference} was built from other sources (source {built}, "
                f"this checkout {current[:12]}): rebuild with `make images`, or pass "
                "--allow-stale-images to run it anyway"
            )
    return images
