"""Turn a split folder (``records.jsonl`` + ``images/``) into the datasets TRL trainers take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset, Features, Image, Sequence, Value

from vlaa.prompts import user_text
from vlaa.records import IMAGES_DIR, RECORDS_FILE, Record, read_records


def load_split(split_dir: Path) -> list[Record]:
    """All records of a split folder; a clear error if the folder is not a split."""
    records_path = split_dir / RECORDS_FILE
    if not records_path.is_file():
        raise FileNotFoundError(f"{split_dir} is not a dataset split: {RECORDS_FILE} is missing")
    return list(read_records(records_path))


def image_path(split_dir: Path, record: Record) -> Path:
    return split_dir / IMAGES_DIR / record.image


def prompt_messages(record: Record) -> list[dict[str, Any]]:
    """The user turn; the chat template adds the training system prompt."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": user_text(record.question, record.reward_type)},
            ],
        }
    ]


_MESSAGE = [
    {
        "role": Value("string"),
        "content": [{"type": Value("string"), "text": Value("string")}],
    }
]


def sft_dataset(split_dir: Path) -> Dataset:
    """Prompt-completion conversations with one image each, for TRL's SFTTrainer."""
    rows = []
    for record in load_split(split_dir):
        if not record.response:
            raise ValueError(f"record {record.id} in {split_dir} has no response to train on")
        rows.append(
            {
                "prompt": prompt_messages(record),
                "completion": [
                    {"role": "assistant", "content": [{"type": "text", "text": record.response}]}
                ],
                "images": [str(image_path(split_dir, record))],
            }
        )
    features = Features({"prompt": _MESSAGE, "completion": _MESSAGE, "images": Sequence(Image())})
    return Dataset.from_list(rows, features=features)


def grpo_dataset(split_dir: Path) -> Dataset:
    """Prompts with an image, the ground truth and the reward type, for TRL's GRPOTrainer."""
    rows = [
        {
            "prompt": prompt_messages(record),
            "image": str(image_path(split_dir, record)),
            "answer": record.answer_text(),
            "reward_type": record.reward_type,
            "record_id": record.id,
        }
        for record in load_split(split_dir)
    ]
    features = Features(
        {
            "prompt": _MESSAGE,
            "image": Image(),
            "answer": Value("string"),
            "reward_type": Value("string"),
            "record_id": Value("string"),
        }
    )
    return Dataset.from_list(rows, features=features)
