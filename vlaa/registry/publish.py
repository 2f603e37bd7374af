"""Publish a model folder as the next version of the registry; promote it if it passes the gate.

A failing model is still published (for comparison and audit) but never promoted. The
evaluation reports arrive as :class:`~vlaa.evaluation.report.EvalReport`
(``vlaa.evaluation.report``) or, from callers that only have numbers, as their flat metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vlaa.evaluation.report import EvalReport, as_report
from vlaa.registry.aliases import move_alias
from vlaa.registry.card import render_model_card, scrub
from vlaa.registry.claims import claim_version, publish_owner
from vlaa.registry.config import PublishConfig
from vlaa.registry.errors import PublishStoreError
from vlaa.registry.gate import gate_decision
from vlaa.registry.layout import INFERENCE_SERVICE, join_uri, version_prefix
from vlaa.registry.serving import render_inference_service
from vlaa.registry.store import check_model_dir, plan_files, write_version
from vlaa.storage import ConditionalStore, StoreError, open_store

logger = logging.getLogger(__name__)

ReportInput = EvalReport | Mapping[str, Any]


class PublishResult(BaseModel):
    """What was published and whether the alias now points at it."""

    version: str
    uri: str
    promoted: bool
    reason: str
    # Where the alias points after this publish: this version, or a higher one published
    # concurrently (aliases never move back); None when not promoted.
    alias_version: str | None = None
    gate: dict[str, Any] = Field(default_factory=dict)
    resumed: bool = False
    files: list[str] = Field(default_factory=list)


def publish(
    model_dir: Path,
    config: PublishConfig,
    metrics: ReportInput,
    train_config: dict[str, Any],
    data_card: dict[str, Any],
    lineage: dict[str, Any],
    base_metrics: ReportInput | None = None,
) -> PublishResult:
    """Publish ``model_dir`` as the next version; promote it to the alias if it passes the gate.

    ``metrics`` and ``base_metrics`` are this model's and the base model's evaluation reports
    (or their flat metrics): the gate decides on them, the card and the manifest record their
    metrics. A failing model is still published (for comparison and audit) but never
    promoted. A failure of the store raises :class:`PublishStoreError` and leaves nothing
    visible; running the same publish again resumes the interrupted version. Concurrent
    publishes under one name each get their own version (a claim), and the alias only moves
    forward.
    """
    model_dir = Path(model_dir)
    check_model_dir(model_dir)
    try:
        store = open_store(config.store_uri)
    except (StoreError, ValueError) as error:
        raise PublishStoreError(f"publish.store_uri: {error}") from error
    if not isinstance(store, ConditionalStore):
        raise PublishStoreError(f"{store!r} has no conditional writes; it cannot publish safely")
    # Gate, card and manifest all see the scrubbed metrics (secrets redacted, NaN as text).
    report, base = _scrubbed(as_report(metrics)), _scrubbed(as_report(base_metrics))
    train_config, data_card, lineage = scrub(train_config), scrub(data_card), scrub(lineage)
    decision = gate_decision(config, report, base)
    # The card names the basis only where a comparison with the base model was made.
    compared = config.gate_min_average_delta is not None
    planned = plan_files(model_dir)
    # Everything the version's bytes depend on, apart from its number: the owner token.
    owner = publish_owner(
        ((entry.path, entry.sha256) for entry in planned),
        {
            "config": config.model_dump(mode="json"),
            "metrics": report.model_dump(mode="json"),
            "base_metrics": base.model_dump(mode="json"),
            "train_config": train_config,
            "data_card": data_card,
            "lineage": lineage,
        },
    )
    version, alias_version = "", None
    try:
        version, resumed = claim_version(store, config.model_name, owner)
        uri = join_uri(config.store_uri, version_prefix(config.model_name, version))
        card = render_model_card(
            config.model_name,
            version,
            decision.reason,
            report.metrics,
            train_config,
            data_card,
            lineage,
            base_metrics=base.metrics,
            gate_checks=decision.checks,
            gate_basis=decision.basis if compared else None,
        )
        extra = {}
        if config.serving == "kserve-vllm":
            extra[INFERENCE_SERVICE] = render_inference_service(config, version, uri).encode()
        gate_record = {
            "min_accuracy": config.gate_min_accuracy,
            "min_average_delta": config.gate_min_average_delta,
            "floors": config.gate_floors,
            **decision.model_dump(),
        }
        record = {
            "lineage": lineage,
            "metrics": report.metrics,
            "base_metrics": base.metrics,
            "train_config": train_config,
            "gate": gate_record,
        }
        manifest = write_version(
            store, config.model_name, version, card, record, planned, owner=owner, extra_files=extra
        )
        if decision.passed:
            alias_version = move_alias(store, config.model_name, config.alias, version, uri)
    except StoreError as error:
        what = f"{config.model_name} {version}" if version else config.model_name
        raise PublishStoreError(
            f"publishing {what} to {config.store_uri} failed: {error}. Nothing incomplete is "
            "visible (the manifest is written last); run the same publish again to resume it"
        ) from error
    logger.info(
        "published %s %s at %s%s: %s",
        config.model_name,
        version,
        uri,
        " (resumed)" if resumed else "",
        decision.reason,
    )
    return PublishResult(
        version=version,
        uri=uri,
        promoted=decision.passed,
        reason=decision.reason,
        alias_version=alias_version,
        gate=gate_record,
        resumed=resumed,
        files=[entry["path"] for entry in manifest["files"]],
    )


def _scrubbed(report: EvalReport) -> EvalReport:
    return report.model_copy(update={"metrics": scrub(report.metrics)})
