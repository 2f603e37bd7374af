"""Real document-size images: counted exactly, dropped with a reason when they cannot fit, and
SFT / GRPO run to completion on a split holding a 1700x2200 page and a 3000x10 strip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.configs import tiny_grpo, tiny_sft
from PIL import Image, ImageDraw
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from vlaa.modeling.image_budget import ImageBudget
from vlaa.modeling.loading import load_processor
from vlaa.records import IMAGES_DIR, RECORDS_FILE, Record, write_records
from vlaa.training.datasets import load_split, prompt_messages
from vlaa.training.fit import DROPS_FILE, NothingFits, fit_samples, prompt_tokens, sft_tokens
from vlaa.training.grpo import run_grpo
from vlaa.training.sft import run_sft

RESPONSE = "<think> I count 3 boxes, then 1 is removed. 3 - 1 = 2. </think> <answer> 2 </answer>"


def _record(name: str) -> Record:
    return Record(
        id=name,
        source="docvqa",
        image=f"{name}.png",
        question="How many boxes are left on the page?",
        answer="2",
        reward_type="digit",
        response=RESPONSE,
    )


def write_split(target: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    """A split with one image of each size (a page with some text-like ink, not a blank)."""
    (target / IMAGES_DIR).mkdir(parents=True)
    for name, size in sizes.items():
        image = Image.new("RGB", size, "white")
        draw = ImageDraw.Draw(image)
        for y in range(0, size[1], max(size[1] // 20, 2)):
            draw.line([(size[0] // 10, y), (size[0] * 9 // 10, y)], fill="black", width=1)
        image.save(target / IMAGES_DIR / f"{name}.png")
    write_records(target / RECORDS_FILE, [_record(name) for name in sizes])
    return target


DOCUMENTS = {"page": (1700, 2200), "strip": (3000, 10)}


@pytest.fixture(scope="module")
def document_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_split(tmp_path_factory.mktemp("documents") / "split", DOCUMENTS)


def _processor(model_dir: Path, max_pixels: int = 256 * 32 * 32):
    return ImageBudget(max_pixels=max_pixels, min_pixels=56 * 56).apply(load_processor(model_dir))


def test_sft_count_is_what_trls_collator_builds(tiny_model_dir: Path, document_split: Path) -> None:
    processor = _processor(tiny_model_dir, max_pixels=1280 * 28 * 28)
    record = _record("page")
    collator = DataCollatorForVisionLanguageModeling(processor=processor, completion_only_loss=True)
    with Image.open(document_split / IMAGES_DIR / "page.png") as image:
        example = {
            "prompt": prompt_messages(record),
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": RESPONSE}]}],
            "images": [image.convert("RGB")],
        }
    built = collator([example])["input_ids"].shape[1]
    assert sft_tokens(processor, document_split, record) == built
    assert built > 1000  # the page's visual tokens dominate


def test_prompt_count_is_what_the_processor_builds(
    tiny_model_dir: Path, document_split: Path
) -> None:
    processor = _processor(tiny_model_dir)
    record = _record("page")
    text = processor.apply_chat_template(
        prompt_messages(record), tokenize=False, add_generation_prompt=True
    )
    with Image.open(document_split / IMAGES_DIR / "page.png") as image:
        ids = processor(images=[image.convert("RGB")], text=[text])["input_ids"][0]
    assert prompt_tokens(processor, document_split, record) == len(ids)


def test_samples_that_cannot_fit_are_dropped_with_counted_reasons(
    tiny_model_dir: Path, document_split: Path, tmp_path: Path
) -> None:
    processor = _processor(tiny_model_dir)
    records = load_split(document_split)
    page_tokens = sft_tokens(processor, document_split, records[0])
    report = fit_samples(processor, document_split, records, page_tokens, sft_tokens)
    assert report.kept == [0] and report.longest == page_tokens
    assert report.counts() == {"aspect_ratio": 1}

    tight = fit_samples(processor, document_split, records, page_tokens - 1, sft_tokens)
    assert tight.counts() == {"too_long": 1, "aspect_ratio": 1}
    written = tight.write(tmp_path / DROPS_FILE).read_text().splitlines()
    drops = [json.loads(line) for line in written]
    assert {drop["id"]: drop["reason"] for drop in drops} == {
        "page": "too_long",
        "strip": "aspect_ratio",
    }
    with pytest.raises(NothingFits, match=r"every sample was dropped.*raise max_length"):
        tight.finish("sft", "raise max_length")


@pytest.mark.slow
def test_sft_and_grpo_run_on_a_document_page_and_drop_a_strip(
    tiny_model_dir: Path, document_split: Path, tmp_path: Path
) -> None:
    # Default image budget and SFT max_length: the page fits, the strip is dropped.
    sft = run_sft(tiny_model_dir, document_split, tmp_path / "sft", tiny_sft(1, 1, 1))
    assert sft["steps"] == 1 and sft["samples"] == 1
    assert sft["fit"]["dropped"] == {"aspect_ratio": 1}
    assert sft["fit"]["longest_tokens"] > 300  # the page's visual tokens reached the model
    dropped = (tmp_path / "sft" / f"vlaa_{DROPS_FILE}").read_text()
    assert json.loads(dropped)["id"] == "strip"

    config = tiny_grpo(1, 4, max_steps=1, use_vllm="no", max_completion_length=8)
    grpo = run_grpo(tiny_model_dir, document_split, tmp_path / "grpo", config)
    assert grpo["steps"] == 1 and grpo["samples"] == 1
    assert grpo["fit"]["dropped"] == {"aspect_ratio": 1}
    assert (tmp_path / "grpo" / f"vlaa_{DROPS_FILE}").is_file()
