"""Aliases move only forward: a compare-and-swap on the alias object, the higher version wins.

Two publishers finishing out of order (v0002 before v0001) must leave ``latest`` at v0002. Each
reads the alias with its tag (S3 ETag), and replaces it only if it points lower and is still in
the state read (``If-Match``); a refused swap re-reads and decides again. Creating the alias is
a create-if-absent, so two first publishers cannot both win either.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from vlaa.registry.errors import PublishError
from vlaa.registry.layout import VERSION_RE, alias_key, version_number
from vlaa.storage import ConditionalStore, ObjectNotFoundError

log = logging.getLogger(__name__)

# Each refused swap means another publisher moved the alias meanwhile.
MAX_SWAP_TRIES = 100


def move_alias(store: ConditionalStore, model_name: str, alias: str, version: str, uri: str) -> str:
    """Point ``alias`` at ``version`` unless it already points at a version as high or higher.

    Returns the version the alias points at afterwards.
    """
    key = alias_key(model_name, alias)
    record = {
        "model_name": model_name,
        "alias": alias,
        "version": version,
        "uri": uri,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    body = json.dumps(record, indent=2).encode("utf-8")
    wanted = version_number(version)
    for _ in range(MAX_SWAP_TRIES):
        try:
            data, tag = store.get_bytes_tagged(key)
        except ObjectNotFoundError:
            if store.put_bytes_if_absent(key, body):
                return version
            continue  # created by another publisher meanwhile: compare with it
        current = _pointed_version(data)
        if current is not None and version_number(current) >= wanted:
            if current != version:
                log.info(
                    "alias %r of %s stays at %s: %s is older", alias, model_name, current, version
                )
            return current
        if store.put_bytes_if_tag(key, body, tag):
            return version
    raise PublishError(
        f"could not move alias {alias!r} of {model_name} to {version} in {MAX_SWAP_TRIES} "
        "tries: other publishers kept changing it"
    )


def _pointed_version(data: bytes) -> str | None:
    """The version an alias record names; None for a damaged record (it may be replaced)."""
    try:
        version = json.loads(data).get("version")
    except (ValueError, AttributeError):
        return None
    return version if isinstance(version, str) and VERSION_RE.fullmatch(version) else None
