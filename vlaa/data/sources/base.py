"""What every data source reader gives the dataset builder (the paper's step 1, metadata).

A reader turns one source in its published form (a local folder, ``file://`` or ``s3://`` copy)
into a stream of ``SourceRow`` s. The builder validates each row (fields, image path, image
bytes, duplicates), quarantines bad ones with a reason, and runs the teacher steps on the rest.

Readers stream: they never hold a whole annotation file's records in memory when the format
allows streaming (JSON lines, ``ijson`` over a JSON array), so a 600 MB file costs no more memory
than a small one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

# Where a source's records may go (the paper's table: GeoQA170K is RL only, its captions
# hallucinate; every other source feeds both splits, by the aha keywords).
Role = Literal["sft", "rl"]
BOTH_ROLES: frozenset[str] = frozenset({"sft", "rl"})

# meta key holding the per-source extra context the caption and reason prompts get
# (CLEVR scene info, Math PUMA's text version of the problem, ALLaVA's original caption).
CONTEXT_KEY = "context"


class SourceError(ValueError):
    """A source cannot be read at all (missing folder or annotation file, unknown format).

    Row-level problems are not errors: they travel as ``SourceRow.problem`` and end in
    quarantine.
    """


class SourceSpec(BaseModel):
    """One source of a dataset build, as given in the ``data`` run parameter."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        description="reader name: clevr_math, geoqa170k, math_puma, arxivqa, docvqa, vizwiz, "
        "allava_laion, llava_cot_coco, llava_cot_vg, release, records, synthetic"
    )
    path: str = Field(default="", description="local folder, file:// or s3:// URI of the copy")
    limit: int | None = Field(default=None, ge=1, description="read at most this many rows")
    options: dict[str, Any] = Field(
        default_factory=dict, description="reader-specific settings (see the reader's docstring)"
    )


@dataclass(frozen=True)
class SourceRow:
    """One sample as read from a source, before validation.

    ``data`` holds record fields (``vlaa.records.Record``): at least ``id``, ``source``,
    ``image`` (relative to ``image_root``), ``question``, ``answer``, ``reward_type``; optionally
    ``caption``, ``reasoning``, ``response``, ``has_aha``, ``split`` (imported releases) and
    ``meta`` (with ``meta["context"]`` for the extra context). ``data`` may instead be the raw
    bytes of one JSON-lines line, which the builder parses (so non-UTF-8 and invalid JSON lines
    are quarantined with the same reasons everywhere).

    A reader that already knows the row is unusable (an annotation without a question, a
    missing option list) sets ``problem = (reason_code, detail)``; the builder quarantines it.
    """

    data: dict[str, Any] | bytes
    image_root: Path
    location: str
    problem: tuple[str, str] | None = None


@dataclass
class SourceReader:
    """A readable source: its name, where its images are, its roles, and its rows.

    ``image_prefix`` is put in front of each row's image path in the built dataset
    (``<prefix>/<image>``) so images of different sources never collide; "" keeps the path.
    """

    name: str
    rows: Iterator[SourceRow]
    image_prefix: str = ""
    roles: frozenset[str] = field(default_factory=lambda: BOTH_ROLES)


class SourceOpener(Protocol):
    """Opens one kind of source: ``(spec, local_root) -> SourceReader``."""

    def __call__(self, spec: SourceSpec, root: Path) -> SourceReader: ...
