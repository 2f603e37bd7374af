"""A published model folder loads with transformers and generates."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor


def assert_published_model_generates(version_dir: Path) -> None:
    processor = AutoProcessor.from_pretrained(version_dir)
    model = AutoModelForImageTextToText.from_pretrained(version_dir).eval()
    messages = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "How many objects?"}],
        }
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(
        text=[text], images=[Image.new("RGB", (112, 112), "blue")], return_tensors="pt"
    )
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]
