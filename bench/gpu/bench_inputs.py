"""The model, processor and inputs the GPU benchmark runs on; all built here, nothing downloaded.

The 3b architecture is ``vlaa.modeling.factory``'s, whose numbers are those of the published
Qwen/Qwen2.5-VL-3B-Instruct config.json (text: hidden 2048, intermediate 11008, 36 layers,
16 heads / 2 KV heads, vocab 151936, tied embeddings, mrope sections 16/24/24; vision: depth 32,
hidden 1280, intermediate 3420, 16 heads, out 2048, full attention in blocks 7/15/23/31,
window 112). Weights are random; the tokenizer is the factory's small BPE with the Qwen
special tokens, so text lengths are set in tokens below rather than in characters.
Only ``vlaa.modeling.factory`` (and ``vlaa.prompts``) is imported: the rest of ``vlaa``
needs pydantic, which the GPU machine lacks.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from transformers import (
    BatchFeature,
    PreTrainedTokenizerFast,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
)
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from vlaa.modeling.factory import (
    DOMAIN_WORDS,
    build_config,
    build_processor,
    default_corpus,
    train_tokenizer,
)

PAGE_SIZE = (1700, 2200)  # a letter page at 200 dpi (width, height), as DocVQA scans are
FIGURE_SIZE = (1024, 768)  # a benchmark / RL figure; capped to the same budget anyway
MIN_PIXELS = 4 * 28 * 28  # factory.image_pixel_bounds for 3b / 7b


def build_model(
    size: str, device: torch.device, max_pixels: int
) -> tuple[Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor]:
    """fp32 master weights built directly on ``device`` (no 15 GB host copy for 3b), and a
    processor that caps every image at ``max_pixels``."""
    tokenizer = train_tokenizer(default_corpus())
    config = build_config(size, tokenizer)  # type: ignore[arg-type]
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.float32)
    model = model.to(device)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = build_processor(tokenizer, MIN_PIXELS, max_pixels)
    return model, processor


def image_tokens(width: int, height: int, max_pixels: int) -> int:
    """LLM tokens of one image: (h/14 * w/14) patches merged 2x2, after Qwen's resize."""
    resized_h, resized_w = smart_resize(
        height, width, factor=28, min_pixels=MIN_PIXELS, max_pixels=max_pixels
    )
    return (resized_h // 28) * (resized_w // 28)


def noise_image(size: tuple[int, int], seed: int) -> Image.Image:
    """Random RGB pixels: never all zeros (a degenerate input), and resized exactly like a scan."""
    width, height = size
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def text_of_tokens(tokenizer: PreTrainedTokenizerFast, tokens: int, seed: int) -> str:
    """Domain words until the text is ``tokens`` long in this tokenizer."""
    rng = np.random.default_rng(seed)
    words = [str(w) for w in rng.choice(DOMAIN_WORDS, size=tokens)]
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"][:tokens]
    return tokenizer.decode(ids)


def user_message(question: str) -> dict:
    return {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}


def prompt_batch(
    processor: Qwen2_5_VLProcessor,
    count: int,
    image_size: tuple[int, int],
    question_tokens: int,
    device: torch.device,
    repeat: int = 1,
    seed: int = 0,
) -> BatchFeature:
    """``count`` left-padded generation prompts with one image each; each distinct prompt
    ``repeat`` times in a row, as TRL's sampler lays out a GRPO group."""
    texts, images = [], []
    for index in range(count):
        prompt_seed = seed + index // repeat
        question = text_of_tokens(processor.tokenizer, question_tokens, prompt_seed)
        messages = [user_message(question)]
        texts.append(processor.apply_chat_template(messages, add_generation_prompt=True))
        images.append(noise_image(image_size, prompt_seed))
    processor.tokenizer.padding_side = "left"
    return processor(text=texts, images=images, return_tensors="pt", padding=True).to(device)


def sft_batch(
    processor: Qwen2_5_VLProcessor,
    count: int,
    question_tokens: int,
    answer_tokens: int,
    device: torch.device,
    seed: int = 100,
) -> BatchFeature:
    """``count`` document-page conversations with labels; loss on every text token."""
    texts, images = [], []
    for index in range(count):
        question = text_of_tokens(processor.tokenizer, question_tokens, seed + index)
        answer = text_of_tokens(processor.tokenizer, answer_tokens, seed + 1000 + index)
        messages = [user_message(question), {"role": "assistant", "content": answer}]
        texts.append(processor.apply_chat_template(messages))
        images.append(noise_image(PAGE_SIZE, seed + index))
    processor.tokenizer.padding_side = "left"
    batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    image_token = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    labels[batch["input_ids"] == image_token] = -100
    batch["labels"] = labels
    return batch.to(device)


def model_inputs(batch: BatchFeature) -> dict[str, torch.Tensor]:
    """The processor outputs the model's forward takes (transformers 5.23 adds
    ``mm_token_type_ids``, which Qwen2.5-VL needs for its 3D rope index; 5.17 may not)."""
    keys = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids")
    return {key: batch[key] for key in keys if key in batch}


def first_image_tokens(batch: BatchFeature) -> int:
    """LLM tokens of the batch's first image, as the processor resized it (2x2 merge)."""
    return int(batch["image_grid_thw"][0].prod().item()) // 4


def patch_count(batch: BatchFeature) -> int:
    """Vision patches (rows of pixel_values) the vision tower sees."""
    return int(batch["image_grid_thw"].prod(dim=-1).sum().item())
