"""The ``data`` run-parameter group: one dataset build's settings (torch-free).

``vlaa.parameters`` validates it before a run starts; ``vlaa.data.engine.build_dataset`` runs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vlaa.cluster import TEACHER_CACHE_ENV
from vlaa.data import rules
from vlaa.data.limits import InputLimits
from vlaa.data.sources import SourceSpec
from vlaa.data.synthetic import SyntheticConfig, SyntheticMix

SYNTHETIC = "synthetic"


def default_teacher_cache() -> str:
    """``$XDG_CACHE_HOME/vlaa/teacher`` (``~/.cache/vlaa/teacher``): the LLM-teacher response
    cache when neither the config nor ``VLAA_TEACHER_CACHE_DIR`` names one."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return str(root / "vlaa" / "teacher")


class BuildDatasetConfig(BaseModel):
    """Settings of one dataset build; the defaults are the default (local, CPU) run's."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        default=SYNTHETIC,
        description="'synthetic', or a folder holding records.jsonl and images/ "
        "(used when `sources` is empty)",
    )
    sources: list[SourceSpec] = Field(
        default_factory=list,
        description="the sources to read, e.g. [{kind: clevr_math, path: s3://..., limit: 8000}]",
    )
    num_samples: int = Field(default=600, ge=1, description="synthetic scenes to generate")
    seed: int = 0
    image_size: int = Field(default=112, ge=48, le=1024, description="synthetic image side")
    mix: SyntheticMix = Field(default_factory=SyntheticMix, description="synthetic families")
    max_objects: int = Field(default=4, ge=1, le=9, description="objects per synthetic scene")
    eval_size: int = Field(default=100, ge=0, description="records held out before the teacher")
    teacher: Literal["offline", "llm"] = Field(
        default="offline",
        description="'offline' (rule-based stand-in, the default run) or 'llm' "
        "(OpenAI-compatible endpoints configured in `llm_teacher`)",
    )
    llm_teacher: dict[str, Any] | None = Field(
        default=None,
        description="endpoints, models, limits and cache of the LLM teacher "
        "(vlaa.data.llm_teacher.config.LLMTeacherConfig)",
    )
    aha_share: float = Field(default=0.4, ge=0, le=1, description="offline teacher aha share")
    teacher_error_rate: float = Field(
        default=0.05, ge=0, le=1, description="offline teacher mistakes (dropped by verify)"
    )
    max_rewrite_word_delta: int = Field(default=rules.MAX_REWRITE_WORD_DELTA, ge=0)
    max_in_flight: int = Field(
        default=256,
        ge=1,
        description="records being distilled at once (teacher calls are "
        "bounded per endpoint as well)",
    )
    max_drop_share: float = Field(
        default=0.2, ge=0, le=1, description="fail when more records are lost than this"
    )
    limits: InputLimits = Field(
        default_factory=InputLimits,
        description="caps on one source row (JSON bytes and depth, question length, image "
        "bytes, pixels and aspect ratio); a row over one is quarantined (docs/data.md)",
    )
    source_cache_dir: str | None = Field(
        default=None, description="where s3:// source copies are downloaded (default: ~/.cache)"
    )
    pushgateway_url: str | None = Field(
        default=None, description="push data-build counters here (default: VLAA_PUSHGATEWAY_URL)"
    )

    @model_validator(mode="after")
    def _llm_teacher_configured(self) -> BuildDatasetConfig:
        if self.teacher == "llm":
            self.llm_teacher_config()  # validates the endpoints now, not mid-build
        return self

    def synthetic_config(self) -> SyntheticConfig:
        return SyntheticConfig(
            seed=self.seed,
            num_samples=self.num_samples,
            image_size=self.image_size,
            mix=self.mix,
            max_objects=self.max_objects,
        )

    def source_specs(self) -> list[SourceSpec]:
        """The sources to read: ``sources``, else the ``source`` shorthand."""
        if self.sources:
            return list(self.sources)
        if self.source == SYNTHETIC:
            return [SourceSpec(kind=SYNTHETIC)]
        return [SourceSpec(kind="records", path=self.source)]

    def source_label(self) -> str:
        if not self.sources:
            return self.source
        return " + ".join(
            f"{spec.kind}:{spec.path}" if spec.path else spec.kind for spec in self.sources
        )

    def llm_teacher_config(self) -> Any:
        from vlaa.data.llm_teacher.config import LLMTeacherConfig

        if not self.llm_teacher:
            raise ValueError("teacher 'llm' needs `llm_teacher` (endpoints of the four steps)")
        fields = dict(self.llm_teacher)
        # On a cluster the cache lives on the vlaa-teacher-cache volume (manifests/base/teacher);
        # elsewhere in the user's cache folder, so a config without `cache_dir` works as written.
        fields.setdefault("cache_dir", os.environ.get(TEACHER_CACHE_ENV) or default_teacher_cache())
        return LLMTeacherConfig.model_validate(fields)
