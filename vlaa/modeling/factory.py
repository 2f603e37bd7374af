"""Build Qwen2.5-VL-architecture models with random weights and a locally trained tokenizer.

No machine here reaches a model hub, so every model the tests, the default run and the GPU
benchmarks use is written by this factory: ``tiny`` for CPU runs, ``3b`` / ``7b`` with the
public Qwen2.5-VL architecture numbers for GPU benchmarks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

from vlaa.prompts import SYSTEM_PROMPT, TASK_INSTRUCTIONS

ModelSize = Literal["tiny", "3b", "7b"]
MODEL_SIZES: tuple[str, ...] = ("tiny", "3b", "7b")

# Special tokens of the Qwen2.5-VL chat format. The reasoning tags are added as ordinary
# (non-special) tokens: TRL decodes completions with skip_special_tokens=True and the
# rewards must still see them.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
REASONING_TAGS = ["<think>", "</think>", "<answer>", "</answer>"]

# Jinja without whitespace control: every newline below is one the Qwen chat format has.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Words of the synthetic visual-reasoning domain; BPE merges learnt on them keep sequences
# short, and byte-level fallback still encodes any other text.
DOMAIN_WORDS = (  # noqa: SIM905 - one readable line per topic
    "red blue green yellow purple gray "
    "cube cubes sphere spheres cone cones cylinder cylinders large small medium tiny "
    "object objects left right top bottom middle centre center there are is the a an of and with "
    "how many what colour color shape size subtract all remove count counting left over image "
    "shows see I so which option answer question box bounding first then wait let me double-check "
    "again check mistake hmm alternatively confirm should yes no total remaining minus plus equals "
    "background scene on in at near far behind front number A B C D"
).split()


def default_corpus() -> list[str]:
    """Sentences to train the tiny tokenizer on: prompts, instructions and domain text."""
    sentences = [SYSTEM_PROMPT, *TASK_INSTRUCTIONS.values()]
    words = DOMAIN_WORDS
    colours, shapes = words[:6], words[6:14:2]
    for size, colour, shape in itertools.product(("large", "small"), colours, shapes):
        sentences.append(f"There is a {size} {colour} {shape} at the top left of the image.")
        sentences.append(f"Subtract all {colour} {shape}. How many objects are left?")
        sentences.append(f"What colour is the {size} {shape}? A. red B. blue C. green D. yellow")
    sentences.append(" ".join(str(n) for n in range(200)))
    sentences.append("<think> I see 3 objects. 3 - 1 = 2. </think> <answer> 2 </answer>")
    sentences.append("[0.125, 0.250, 0.500, 0.875]")
    return sentences


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer with the Qwen2.5-VL special tokens and reasoning tags."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=32768,
        padding_side="left",
    )
    fast.add_tokens(REASONING_TAGS)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_processor(
    tokenizer: PreTrainedTokenizerFast, min_pixels: int, max_pixels: int
) -> Qwen2_5_VLProcessor:
    """A Qwen2.5-VL processor around ``tokenizer`` with the given image-size bounds."""
    image_processor = Qwen2VLImageProcessor(
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
    )
    video_processor = Qwen2VLVideoProcessor(
        min_pixels=min_pixels, max_pixels=max_pixels, patch_size=14, merge_size=2
    )
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


# The vision encoder is the same in every public Qwen2.5-VL size; only its output width differs.
QWEN25_VL_VISION = dict(
    depth=32,
    hidden_size=1280,
    intermediate_size=3420,
    num_heads=16,
    fullatt_block_indexes=[7, 15, 23, 31],
)


def _architecture(size: ModelSize, vocab_size: int) -> dict:
    """Text and vision settings. 3b / 7b follow the public Qwen2.5-VL configs."""
    if size == "tiny":
        # Small enough to learn the answer format and perception questions on 2 CPU cores in
        # minutes; head_dim 24 -> mrope sections sum to 12.
        text = dict(
            vocab_size=vocab_size,
            hidden_size=96,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            rope_scaling={"type": "mrope", "mrope_section": [4, 4, 4]},
            tie_word_embeddings=True,
        )
        vision = dict(
            depth=2,
            hidden_size=64,
            intermediate_size=128,
            num_heads=4,
            out_hidden_size=96,
            fullatt_block_indexes=[1],
        )
        return dict(text=text, vision=vision, tie=True)
    if size == "3b":
        text = dict(
            vocab_size=151936,
            hidden_size=2048,
            intermediate_size=11008,
            num_hidden_layers=36,
            num_attention_heads=16,
            num_key_value_heads=2,
            max_position_embeddings=128000,
            rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
            tie_word_embeddings=True,
        )
        vision = dict(QWEN25_VL_VISION, out_hidden_size=2048)
        return dict(text=text, vision=vision, tie=True)
    if size == "7b":
        text = dict(
            vocab_size=152064,
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            max_position_embeddings=128000,
            rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
            tie_word_embeddings=False,
        )
        vision = dict(QWEN25_VL_VISION, out_hidden_size=3584)
        return dict(text=text, vision=vision, tie=False)
    raise ValueError(f"unknown model size {size!r}; choose one of {', '.join(MODEL_SIZES)}")


def build_config(size: ModelSize, tokenizer: PreTrainedTokenizerFast) -> Qwen2_5_VLConfig:
    """A Qwen2.5-VL config of the given size whose special-token ids match ``tokenizer``."""
    arch = _architecture(size, vocab_size=len(tokenizer))
    ids = {
        name: tokenizer.convert_tokens_to_ids(tok)
        for name, tok in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        )
    }
    text = dict(
        arch["text"],
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(
        arch["vision"],
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        tokens_per_second=2,
        hidden_act="silu",
        in_channels=3,
    )
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=arch["tie"],
        **ids,
    )


def image_pixel_bounds(size: ModelSize) -> tuple[int, int]:
    """(min_pixels, max_pixels): tiny keeps 112x112 images at 16 visual tokens."""
    if size == "tiny":
        return 56 * 56, 112 * 112
    # The paper's evaluation setting: max_pixels 256*32*32.
    return 4 * 28 * 28, 256 * 32 * 32


def make_model(
    output_dir: Path,
    size: ModelSize = "tiny",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a randomly initialised model, its processor and a provenance note to ``output_dir``."""
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(default_corpus())
    config = build_config(size, tokenizer)
    model = Qwen2_5_VLForConditionalGeneration(config).to(dtype)
    min_pixels, max_pixels = image_pixel_bounds(size)
    processor = build_processor(tokenizer, min_pixels, max_pixels)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    provenance = {
        "factory": "vlaa.modeling.factory",
        "size": size,
        "seed": seed,
        "parameters": count_parameters(model),
        "weights": "random (no pretrained checkpoint)",
    }
    (output_dir / "vlaa_model.json").write_text(json.dumps(provenance, indent=2))
    return output_dir


def count_parameters(model: torch.nn.Module) -> int:
    """All parameters, tied ones once."""
    return sum(p.numel() for p in model.parameters())
