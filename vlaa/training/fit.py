"""Which samples fit the step's token budget, counted before training; the rest are dropped.

TRL's SFT collator cuts sequences at ``max_length`` (trl/trainer/sft_trainer.py,
``DataCollatorForVisionLanguageModeling._collate_prompt_completion``): a cut through the
visual tokens raises "max_length ... is too short and causes image placeholder tokens ... to be
truncated", and a cut through the response trains on a trace without its answer. Qwen2.5-VL's
processor raises on images over 200:1. So each sample is measured here with the processor's
own chat template, tokenizer and resize rule; a sample that cannot fit whole is dropped, with a
reason that is counted in the step's summary and listed in a JSON-lines file. Never a crash.

Over-long strips (e.g. 3000x10) are dropped rather than padded to 200:1: padding invents
content the evaluation processor never shows, and such strips carry little to read.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlaa.errors import UserError
from vlaa.modeling.image_budget import ImageRejected, image_size, image_tokens
from vlaa.records import Record
from vlaa.training.datasets import image_path, prompt_messages

log = logging.getLogger(__name__)

DROPS_FILE = "dropped_samples.jsonl"


class NothingFits(UserError):
    """Every sample of the split was dropped; the message says why and what to change."""


@dataclass
class FitReport:
    """Positions (in the split's record order) of the samples kept, and why the others went."""

    kept: list[int] = field(default_factory=list)
    drops: list[dict[str, Any]] = field(default_factory=list)
    longest: int = 0  # most tokens of a kept sample

    def counts(self) -> dict[str, int]:
        return dict(Counter(drop["reason"] for drop in self.drops))

    def summary(self) -> dict[str, Any]:
        return {"kept": len(self.kept), "dropped": self.counts(), "longest_tokens": self.longest}

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for drop in self.drops:
                handle.write(json.dumps(drop) + "\n")
        return path

    def finish(self, step: str, hint: str) -> FitReport:
        """Log the drops; a clear error if nothing is left to train on."""
        if self.drops:
            log.warning(
                "%s: dropped %d samples that cannot fit: %s", step, len(self.drops), self.counts()
            )
        if not self.kept:
            raise NothingFits(f"{step}: every sample was dropped ({self.counts()}); {hint}")
        return self


def visual_tokens(processor: Any, path: Path) -> int:
    """Tokens the processor makes of the image at ``path`` (ImageRejected if it cannot)."""
    width, height = image_size(path)
    return image_tokens(processor, width, height)


def _text_tokens(processor: Any, text: str) -> tuple[int, int]:
    """(tokens, image placeholders) of ``text`` as the collator tokenizes it (no special tokens)."""
    ids = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
    image_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    return len(ids), sum(1 for token in ids if token == image_id)


def sft_tokens(processor: Any, split_dir: Path, record: Record) -> int:
    """Tokens TRL's SFT collator builds for ``record``: prompt with visual tokens + completion."""
    from trl.data_utils import apply_chat_template, prepare_multimodal_messages

    visual = visual_tokens(processor, image_path(split_dir, record))
    example = {
        "prompt": prepare_multimodal_messages(prompt_messages(record), images=[None]),
        "completion": [
            {"role": "assistant", "content": [{"type": "text", "text": record.response}]}
        ],
    }
    texts = apply_chat_template(example, processor)
    prompt, placeholders = _text_tokens(processor, texts["prompt"])
    completion, _ = _text_tokens(processor, texts["completion"])
    return prompt - placeholders + placeholders * visual + completion


def prompt_tokens(processor: Any, split_dir: Path, record: Record) -> int:
    """Tokens of ``record``'s GRPO prompt (generation prompt added), visual tokens included."""
    visual = visual_tokens(processor, image_path(split_dir, record))
    text = processor.apply_chat_template(
        prompt_messages(record), tokenize=False, add_generation_prompt=True
    )
    tokens, placeholders = _text_tokens(processor, text)
    return tokens - placeholders + placeholders * visual


def fit_samples(
    processor: Any,
    split_dir: Path,
    records: Sequence[Record],
    budget: int | None,
    count: Any,
    positions: Sequence[int] | None = None,
) -> FitReport:
    """Count each record's tokens with ``count``; keep those within ``budget``."""
    report = FitReport()
    for position in range(len(records)) if positions is None else positions:
        record = records[position]
        try:
            tokens = count(processor, split_dir, record)
        except ImageRejected as rejected:
            report.drops.append(
                {"id": record.id, "reason": rejected.reason, "detail": rejected.detail}
            )
            continue
        if budget is not None and tokens > budget:
            report.drops.append(
                {"id": record.id, "reason": "too_long", "detail": f"{tokens} tokens > {budget}"}
            )
            continue
        report.kept.append(position)
        report.longest = max(report.longest, tokens)
    return report
