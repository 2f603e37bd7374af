"""The data card: what went into a dataset build and where every record ended up.

Counts per source (a Table-1-like view: original, after the pipeline, SFT, RL, eval), per
split, and per quarantine / drop reason, written as JSON (for machines and dashboards) and
Markdown (for people and the KFP UI).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from vlaa.records import SPLITS

DATA_CARD_JSON = "data_card.json"
DATA_CARD_MD = "data_card.md"

# The paper's Table 1 (counts after the pipeline, SFT / RL) by source reader kind, shown beside
# a build's own counts; None where the paper has no SFT samples of that source.
PAPER_COUNTS: dict[str, tuple[int | None, int]] = {
    "clevr_math": (5_923, 2_000),
    "geoqa170k": (None, 6_499),
    "math_puma": (19_258, 6_696),
    "arxivqa": (34_604, 1_000),
    "docvqa": (4_897, 1_000),
    "vizwiz": (4_266, 1_000),
    "allava_laion": (10_496, 3_000),
    "llava_cot_coco": (8_727, 2_000),
    "llava_cot_vg": (38_242, 2_000),
}


class SourceCounts(BaseModel):
    """Where the records of one source ended up; ``original`` is the sum of the rest."""

    model_config = ConfigDict(extra="forbid")

    original: int = 0
    quarantined: int = 0
    dropped: int = 0
    sft: int = 0
    rl: int = 0
    eval: int = 0
    reward_types: dict[str, int] = Field(default_factory=dict, description="kept records")

    @computed_field
    @property
    def after_pipeline(self) -> int:
        """Records kept in some split (SFT + RL + eval)."""
        return self.sft + self.rl + self.eval

    def accounted(self) -> int:
        return self.quarantined + self.dropped + self.after_pipeline


class DataCard(BaseModel):
    """Counts of one dataset build; ``lost_share`` is what the drop limit is checked against."""

    model_config = ConfigDict(extra="forbid")

    name: str = "vlaa-thinking"
    source: str
    seed: int
    teacher: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    sources: dict[str, SourceCounts] = Field(default_factory=dict)
    splits: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    aha_by_split: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    reward_types_by_split: dict[str, dict[str, int]] = Field(default_factory=dict)
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    drop_reasons: dict[str, int] = Field(default_factory=dict)
    drop_steps: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="teacher drops per step (caption ... verify) and reason"
    )

    @computed_field
    @property
    def original(self) -> int:
        return sum(counts.original for counts in self.sources.values())

    @computed_field
    @property
    def quarantined(self) -> int:
        return sum(self.quarantine_reasons.values())

    @computed_field
    @property
    def dropped(self) -> int:
        return sum(self.drop_reasons.values())

    @computed_field
    @property
    def lost_share(self) -> float:
        """Share of the original records quarantined or dropped."""
        if self.original == 0:
            return 0.0
        return (self.quarantined + self.dropped) / self.original

    def source_counts(self, source: str) -> SourceCounts:
        return self.sources.setdefault(source, SourceCounts())

    def count_original(self, source: str) -> None:
        self.source_counts(source).original += 1

    def count_quarantined(self, source: str, reason: str) -> None:
        self.source_counts(source).quarantined += 1
        self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + 1

    def count_dropped(self, source: str, reason: str, step: str = "teacher") -> None:
        self.source_counts(source).dropped += 1
        self.drop_reasons[reason] = self.drop_reasons.get(reason, 0) + 1
        by_reason = self.drop_steps.setdefault(step, {})
        by_reason[reason] = by_reason.get(reason, 0) + 1

    def count_kept(self, source: str, split: str, reward_type: str, has_aha: bool) -> None:
        counts = self.source_counts(source)
        setattr(counts, split, getattr(counts, split) + 1)
        counts.reward_types[reward_type] = counts.reward_types.get(reward_type, 0) + 1
        self.splits[split] = self.splits.get(split, 0) + 1
        self.aha_by_split[split] = self.aha_by_split.get(split, 0) + int(has_aha)
        by_type = self.reward_types_by_split.setdefault(split, {})
        by_type[reward_type] = by_type.get(reward_type, 0) + 1

    def unaccounted(self) -> dict[str, int]:
        """Sources whose records do not add up (original minus where they went); empty if none."""
        gaps = {name: c.original - c.accounted() for name, c in self.sources.items()}
        return {name: gap for name, gap in gaps.items() if gap}

    def top_losses(self, limit: int = 3) -> list[tuple[str, int]]:
        """The most frequent quarantine and drop reasons, most frequent first."""
        return Counter({**self.quarantine_reasons, **self.drop_reasons}).most_common(limit)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def to_markdown(self) -> str:
        """A Table-1-like table per source, then splits, then the loss reasons."""
        kept = self.original - self.quarantined - self.dropped
        lines = [
            f"# Data card: {self.name}",
            "",
            f"- source: `{self.source}`, seed {self.seed}",
            f"- teacher: {self._teacher_line()}",
            f"- records: {self.original} original -> {kept} after the pipeline"
            f" ({self.quarantined} quarantined, {self.dropped} dropped,"
            f" {self.lost_share:.1%} lost)",
            "",
            "## Samples per source",
            "",
            "| source | reward types | original | after pipeline | SFT | RL | eval |"
            " quarantined | dropped |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name in sorted(self.sources):
            lines.append(_source_row(name, self.sources[name]))
        lines.append(_source_row("**total**", self._total()))
        lines += [
            "",
            "## Splits",
            "",
            "| split | records | with aha | reward types |",
            "|---|---:|---:|---|",
        ]
        for split in SPLITS:
            types = _counts_text(self.reward_types_by_split.get(split, {}))
            lines.append(
                f"| {split} | {self.splits.get(split, 0)} | {self.aha_by_split.get(split, 0)}"
                f" | {types} |"
            )
        lines += ["", "## Quarantine and drop reasons", ""]
        if not self.quarantine_reasons and not self.drop_reasons:
            lines.append("No record was quarantined or dropped.")
        else:
            lines += ["| step | reason | records |", "|---|---|---:|"]
            steps = [("validate (quarantine)", self.quarantine_reasons)]
            steps += [(step, self.drop_steps[step]) for step in sorted(self.drop_steps)]
            for stage, reasons in steps:
                for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
                    lines.append(f"| {stage} | {reason} | {count} |")
        lines += self._paper_rows()
        return "\n".join(lines) + "\n"

    def _paper_rows(self) -> list[str]:
        """The paper's Table 1 counts of the sources this build read, for comparison."""
        known = [name for name in sorted(self.sources) if name in PAPER_COUNTS]
        if not known:
            return []
        lines = [
            "",
            "## Compared with the paper (Table 1, after the pipeline)",
            "",
            "| source | SFT here | SFT paper | RL here | RL paper |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in known:
            paper_sft, paper_rl = PAPER_COUNTS[name]
            counts = self.sources[name]
            sft = "-" if paper_sft is None else f"{paper_sft:,}"
            lines.append(f"| {name} | {counts.sft} | {sft} | {counts.rl} | {paper_rl:,} |")
        return lines

    def write(self, card_dir: Path) -> None:
        """Write ``data_card.json`` and ``data_card.md`` into ``card_dir``."""
        card_dir.mkdir(parents=True, exist_ok=True)
        (card_dir / DATA_CARD_JSON).write_text(self.to_json(), encoding="utf-8")
        (card_dir / DATA_CARD_MD).write_text(self.to_markdown(), encoding="utf-8")

    @classmethod
    def read(cls, card_dir: Path) -> DataCard:
        """Read ``data_card.json`` back (computed fields are recomputed, not validated)."""
        data = json.loads((card_dir / DATA_CARD_JSON).read_text(encoding="utf-8"))
        return cls.model_validate(_strip_computed(data))

    def _teacher_line(self) -> str:
        if not self.teacher:
            return "none"
        models = self.teacher.get("teacher_models", {})
        described = ", ".join(f"{step}: {model}" for step, model in models.items())
        return f"{self.teacher.get('teacher', 'unknown')} ({described})"

    def _total(self) -> SourceCounts:
        total = SourceCounts()
        for counts in self.sources.values():
            for field in ("original", "quarantined", "dropped", "sft", "rl", "eval"):
                setattr(total, field, getattr(total, field) + getattr(counts, field))
            for reward_type, count in counts.reward_types.items():
                total.reward_types[reward_type] = total.reward_types.get(reward_type, 0) + count
        return total


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "-"


def _source_row(name: str, counts: SourceCounts) -> str:
    return (
        f"| {name} | {_counts_text(counts.reward_types)} | {counts.original} |"
        f" {counts.after_pipeline} | {counts.sft} | {counts.rl} | {counts.eval} |"
        f" {counts.quarantined} | {counts.dropped} |"
    )


def _strip_computed(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the computed fields that ``model_dump`` adds, so the JSON validates back."""
    for key in ("original", "quarantined", "dropped", "lost_share"):
        data.pop(key, None)
    for counts in data.get("sources", {}).values():
        counts.pop("after_pipeline", None)
    return data
