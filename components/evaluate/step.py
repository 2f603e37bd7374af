"""Greedy generation on the eval split, ``<answer>`` extraction, accuracy per reward type."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from statistics import fmean
from typing import Any

import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from vlaa import rewards
from vlaa.modeling.loading import load_model, load_processor
from vlaa.records import Record
from vlaa.training.datasets import image_path, load_split, prompt_messages


class EvaluateStepConfig(BaseModel):
    """The paper's protocol: greedy decoding, at most 800 new tokens, the training system prompt."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(800, gt=0)
    batch_size: int = Field(16, gt=0)
    max_samples: int | None = Field(None, gt=0, description="evaluate only the first N records")


def _generate(
    model: Any, processor: Any, batch: list[tuple[Record, Path]], max_new_tokens: int
) -> list[str]:
    texts = [
        processor.apply_chat_template(prompt_messages(record), add_generation_prompt=True)
        for record, _ in batch
    ]
    images = []
    for record, path in batch:
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except OSError as error:
            raise ValueError(
                f"eval record {record.id}: cannot read image {path}: {error}"
            ) from error
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True).to(
        model.device
    )
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=processor.tokenizer.pad_token_id,
        )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    return processor.batch_decode(new_tokens, skip_special_tokens=True)


def evaluate_model(model_dir: Path, eval_dir: Path, config: EvaluateStepConfig) -> dict[str, Any]:
    """Score ``model_dir`` on the eval split; return the report (metrics plus per-sample rows)."""
    processor = load_processor(model_dir)
    processor.tokenizer.padding_side = "left"
    model = load_model(model_dir).eval()
    records = load_split(eval_dir)
    if config.max_samples:
        records = records[: config.max_samples]
    if not records:
        raise ValueError(f"eval split {eval_dir} has no records")
    rows: list[dict[str, Any]] = []
    progress = tqdm(total=len(records), desc="evaluate", unit="sample")
    for start in range(0, len(records), config.batch_size):
        batch = [(r, image_path(eval_dir, r)) for r in records[start : start + config.batch_size]]
        for (record, _), completion in zip(
            batch, _generate(model, processor, batch, config.max_new_tokens), strict=True
        ):
            value = rewards.score(record.reward_type, completion, record.answer)
            rows.append(
                {
                    "id": record.id,
                    "reward_type": record.reward_type,
                    "answer": record.answer,
                    "extracted": rewards.extract_answer(completion),
                    "score": value,
                    "completion": completion,
                }
            )
        progress.update(len(batch))
    progress.close()
    return {"metrics": summarise(rows), "samples": rows}


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Accuracy overall and per reward type, answer-format rate and mean completion length."""
    scored = [row for row in rows if row["score"] is not None]
    by_type: dict[str, list[float]] = defaultdict(list)
    for row in scored:
        by_type[row["reward_type"]].append(row["score"])
    metrics = {
        "accuracy": round(fmean(r["score"] for r in scored), 4) if scored else 0.0,
        "format_rate": round(fmean(r["extracted"] is not None for r in rows), 4),
        "mean_completion_chars": round(fmean(len(r["completion"]) for r in rows), 1),
        "num_samples": float(len(rows)),
    }
    for kind, values in sorted(by_type.items()):
        metrics[f"accuracy_{kind}"] = round(fmean(values), 4)
    return metrics


def write_report(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
