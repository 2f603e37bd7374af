"""Pretrain the tiny model so it starts where the paper's arms start: it answers, in format.

The paper's SFT and GRPO arms both start from an instruction-tuned model (Qwen2.5-VL-Instruct)
that already sees and already answers. A randomly initialised tiny model does neither: it never
writes an ``<answer>`` (GRPO from it earns reward 0) and its vision tower, frozen by the
paper's training rule, never learnt to see. So ``tiny`` is the factory's random model plus a
short supervised pretraining on synthetic scenes, with the vision tower trainable:

- short captions ("Describe the image." -> "There are 2 objects: a large red cube at the top
  left, ..."), which teach the model to read colours, shapes, sizes, places and counts off the
  image, with extra one-object scenes whose caption is a property of the whole image, and
- direct answers to the run's question families (counting, subtraction, colour / shape / size),

every target in the system prompt's format with an empty thinking block and no reasoning,
``<think></think><answer>X</answer>`` (the SFT data's layout, vlaa/data/rules.py, without the
reasoning). The reward's format check (vlaa/rewards/extract.py) needs only the ``<answer>``.

The scenes are drawn from the same generator as the run's data (vlaa/data/synthetic.py) at
sample indices from ``SCENE_OFFSET`` on, so no pretraining scene is a scene of a data build.
Plain torch loop, fp32 on CPU, seeded: the same seed and settings give the same weights.
The vision tower and merger learn at a tenth of the rate: at the full rate they turn the
image into a near-constant (PretrainSettings.vision_lr_scale) and the model answers blind.
"""

from __future__ import annotations

import json
import logging
import math
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vlaa.data.synthetic import BACKGROUND, SceneGraph, SyntheticConfig, generate
from vlaa.modeling.factory import image_pixel_bounds, make_model
from vlaa.modeling.image_budget import ImageBudget
from vlaa.prompts import user_text
from vlaa.records import Record

logger = logging.getLogger(__name__)

# Data builds number their scenes from 0; pretraining scenes start far past any build's size.
SCENE_OFFSET = 10_000_000
CAPTION_QUESTION = "Describe the image."
EMPTY_THINK = "<think></think>"


@dataclass(frozen=True)
class PretrainSettings:
    """What the pretraining does; every field is part of the cache key."""

    num_scenes: int = 2000
    image_size: int = 112  # the data build's default: 16 visual tokens an image
    min_objects: int = 1
    max_objects: int = 4  # the data build's default
    # Extra scenes with one object: their captions name what the whole image shows, the
    # easiest visual signal for the language model to start reading.
    single_object_scenes: int = 1000
    caption_share: float = 1.0  # scenes that also get a caption example
    steps: int = 700
    batch_size: int = 32
    learning_rate: float = 3e-3
    # The vision tower and merger stay frozen for the first steps, then learn at a share of
    # the rate. Trained from the start they collapse into a constant within ~100 steps (the
    # language model, still learning the format, treats the image as noise) and the model
    # never learns to read it (docs/study-results.md).
    vision_frozen_steps: int = 350
    vision_lr_scale: float = 0.1
    warmup_steps: int = 30
    weight_decay: float = 0.0


@dataclass(frozen=True)
class Example:
    image: Image.Image
    question: str  # the user turn's text, instruction included
    target: str  # the assistant turn, in format


def answer_target(answer: str) -> str:
    """A direct answer in the system prompt's format, with no reasoning."""
    return f"{EMPTY_THINK}<answer>{answer}</answer>"


def caption(record: Record) -> str:
    """'There are 2 objects: a large red cube at the top left, a small blue sphere in the
    centre': the count, then the objects in reading order (row by row), so the target is a
    function of the image alone."""
    objects = SceneGraph.from_dict(record.meta["scene"]).objects
    ordered = sorted(objects, key=lambda obj: (obj.row, obj.col))
    head = "There is 1 object: " if len(objects) == 1 else f"There are {len(objects)} objects: "
    return head + ", ".join(f"{obj.phrase()} {obj.place()}" for obj in ordered)


def _scene_configs(settings: PretrainSettings, seed: int) -> list[SyntheticConfig]:
    """The main scenes, then the one-object scenes at the indices after them."""
    main = SyntheticConfig(
        seed=seed,
        num_samples=settings.num_scenes,
        image_size=settings.image_size,
        min_objects=settings.min_objects,
        max_objects=settings.max_objects,
        start_index=SCENE_OFFSET,
    )
    if settings.single_object_scenes <= 0:
        return [main]
    single = main.model_copy(
        update={
            "num_samples": settings.single_object_scenes,
            "min_objects": 1,
            "max_objects": 1,
            "start_index": SCENE_OFFSET + settings.num_scenes,
        }
    )
    return [main, single]


def examples(settings: PretrainSettings, seed: int, scratch: Path) -> list[Example]:
    """Render the scenes and turn each into a direct-answer example (and some into captions)."""
    rng = random.Random(f"vlaa-tiny-pretrain:{seed}")
    out: list[Example] = []
    records = (
        item for config in _scene_configs(settings, seed) for item in generate(config, scratch)
    )
    for record, _scene in records:
        with Image.open(scratch / record.image) as opened:
            image = opened.convert("RGB")
        question = user_text(record.question, record.reward_type)
        out.append(Example(image, question, answer_target(record.answer_text())))
        if rng.random() < settings.caption_share:
            out.append(Example(image, user_text(CAPTION_QUESTION, "open"), caption_target(record)))
    return out


def caption_target(record: Record) -> str:
    return answer_target(caption(record))


def _messages(question: str) -> list[dict[str, Any]]:
    # The user turn exactly as training and evaluation build it (vlaa/training/datasets.py).
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


def collate(processor: Any, batch: Sequence[Example]) -> dict[str, torch.Tensor]:
    """Left-padded prompt + target; the loss covers the target and its ``<|im_end|>`` only."""
    tokenizer = processor.tokenizer
    end = "<|im_end|>"
    texts = [
        processor.apply_chat_template(_messages(example.question), add_generation_prompt=True)
        + example.target
        + end
        for example in batch
    ]
    inputs = processor(
        text=texts, images=[example.image for example in batch], return_tensors="pt", padding=True
    )
    labels = torch.full_like(inputs["input_ids"], -100)
    # Left padding puts every target at the end of its row. The target starts with an added
    # token (<think>), so its tokens are the same alone as after the prompt.
    for row, example in enumerate(batch):
        length = len(tokenizer(example.target + end, add_special_tokens=False)["input_ids"])
        labels[row, -length:] = inputs["input_ids"][row, -length:]
    inputs["labels"] = labels
    return dict(inputs)


def _batches(
    data: list[Example], batch_size: int, steps: int, seed: int
) -> Iterator[list[Example]]:
    rng = random.Random(f"vlaa-tiny-pretrain-order:{seed}")
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch_size:
            order += rng.sample(range(len(data)), len(data))
        yield [data[i] for i in order[:batch_size]]
        del order[:batch_size]


def _lr_factor(step: int, settings: PretrainSettings) -> float:
    """Linear warmup, then cosine decay to a tenth."""
    if step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def pretrain_tiny(output_dir: Path, seed: int, settings: PretrainSettings) -> dict[str, Any]:
    """Write the random tiny model of ``seed`` to ``output_dir``, pretrain it there in place and
    return a summary (loss first / last, seconds)."""
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    started = time.time()
    make_model(output_dir, size="tiny", seed=seed)
    torch.manual_seed(seed)
    processor = AutoProcessor.from_pretrained(output_dir)
    min_pixels, max_pixels = image_pixel_bounds("tiny")
    ImageBudget(max_pixels=max_pixels, min_pixels=min_pixels).apply(processor)
    processor.tokenizer.padding_side = "left"
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(output_dir, dtype=torch.float32)
    model.train()  # every parameter trainable, the vision tower included
    with tempfile.TemporaryDirectory(prefix="vlaa-tiny-scenes-") as scratch:
        data = examples(settings, seed, Path(scratch))
    centre_visual_tokens(model, processor, [example.image for example in data[:256]])
    vision = [p for name, p in model.named_parameters() if ".visual." in f".{name}"]
    ids = {id(p) for p in vision}
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in ids]},
        {"params": vision, "lr": settings.learning_rate * settings.vision_lr_scale},
    ]
    optimizer = torch.optim.AdamW(
        groups, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, settings))
    losses: list[float] = []
    for step, batch in enumerate(_batches(data, settings.batch_size, settings.steps, seed)):
        for parameter in vision:
            parameter.requires_grad_(step >= settings.vision_frozen_steps)
        loss = model(**collate(processor, batch)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 50 == 0 or step == settings.steps - 1:
            logger.info("tiny pretraining step %d/%d loss %.4f", step, settings.steps, losses[-1])
    model.eval()
    model.save_pretrained(output_dir)
    provenance_path = output_dir / "vlaa_model.json"
    provenance = json.loads(provenance_path.read_text())
    provenance["weights"] = "random, then pretrained on synthetic scenes (tiny_pretrain.py)"
    provenance_path.write_text(json.dumps(provenance, indent=2))
    window = max(1, min(20, len(losses)))
    return {
        "settings": asdict(settings),
        "examples": len(data),
        "loss_first": round(sum(losses[:window]) / window, 4),
        "loss_last": round(sum(losses[-window:]) / window, 4),
        "seconds": round(time.time() - started, 1),
    }


@torch.no_grad()
def centre_visual_tokens(model: Any, processor: Any, images: list[Image.Image]) -> None:
    """Rescale the merger's last layer so that, over ``images``, the mean visual token is zero
    and a token's distance from it is 1 on average (a data-dependent init of that layer).

    At random init a visual token is almost all the same vector (the plain background, most
    of every patch): the part that differs between scenes is about a tenth of its norm, too
    faint for the language model to pick up in minutes; with it centred the model reads
    colours within ~100 steps (docs/study-results.md)."""
    merger_out = model.model.visual.merger.mlp[-1]
    inputs = processor.image_processor(images=images, return_tensors="pt")
    tokens = model.model.visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"])
    tokens = tokens.pooler_output
    mean = tokens.mean(0)
    scale = 1.0 / (tokens - mean).norm(dim=-1).mean()
    merger_out.weight.mul_(scale)
    merger_out.bias.sub_(mean).mul_(scale)


def answer_check(
    model_dir: Path, num_scenes: int = 100, seed: int = 0, blind: bool = False
) -> dict[str, float]:
    """Greedy answers to ``num_scenes`` scenes as a data build draws them (indices from 0):
    the share in format (an ``<answer>`` the reward extracts) and the accuracy. ``blind``
    shows an empty background instead of each scene: the accuracy of answer priors alone."""
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from vlaa.rewards.extract import extract_answer
    from vlaa.rewards.registry import score

    processor = AutoProcessor.from_pretrained(model_dir)
    processor.tokenizer.padding_side = "left"
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    config = SyntheticConfig(seed=seed, num_samples=num_scenes)
    in_format, correct, kinds, families = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="vlaa-tiny-check-") as scratch:
        records = [record for record, _ in generate(config, Path(scratch))]
        for start in range(0, len(records), 50):
            batch = records[start : start + 50]
            texts = [
                processor.apply_chat_template(
                    _messages(user_text(r.question, r.reward_type)), add_generation_prompt=True
                )
                for r in batch
            ]
            images = [
                Image.new("RGB", (config.image_size,) * 2, BACKGROUND)
                if blind
                else Image.open(Path(scratch) / r.image).convert("RGB")
                for r in batch
            ]
            inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=32, do_sample=False)
            completions = processor.batch_decode(
                output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
            )
            for record, completion in zip(batch, completions, strict=True):
                in_format.append(extract_answer(completion) is not None)
                correct.append(score(record.reward_type, completion, record.answer) or 0.0)
                kinds.append(record.reward_type)
                families.append(f"{record.reward_type}/{record.meta['question_family']}")
    return {
        "format_rate": sum(in_format) / len(in_format),
        "accuracy": sum(correct) / len(correct),
        **_accuracy_by("accuracy_", kinds, correct),
        # e.g. accuracy_digit/count, accuracy_mcq/colour: the generator's question families
        **_accuracy_by("accuracy_", families, correct),
    }


def _accuracy_by(prefix: str, groups: list[str], correct: list[float]) -> dict[str, float]:
    return {
        prefix + group: sum(c for c, g in zip(correct, groups, strict=True) if g == group)
        / groups.count(group)
        for group in sorted(set(groups))
    }
