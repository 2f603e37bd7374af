"""The image budget: bounds reach the processor, and the visual-token count is the processor's."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vlaa.modeling.image_budget import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_PIXELS,
    ImageBudget,
    ImageRejected,
    image_size,
    image_tokens,
)
from vlaa.modeling.loading import load_processor


def test_defaults_are_the_papers_eval_cap_and_qwens_floor() -> None:
    from vlaa.benchmarks.protocol import MAX_PIXELS

    assert DEFAULT_MAX_PIXELS == MAX_PIXELS == 256 * 32 * 32
    assert DEFAULT_MIN_PIXELS == 56 * 56
    assert ImageBudget(1000).processor_kwargs() == {"max_pixels": 1000}
    assert ImageBudget(1000, 784).processor_kwargs() == {"max_pixels": 1000, "min_pixels": 784}


@pytest.mark.parametrize(
    ("width", "height"), [(1700, 2200), (2200, 1700), (640, 480), (40, 30), (1000, 10)]
)
def test_visual_tokens_match_the_processor(tiny_model_dir: Path, width: int, height: int) -> None:
    budget = ImageBudget(max_pixels=DEFAULT_MAX_PIXELS, min_pixels=DEFAULT_MIN_PIXELS)
    processor = budget.apply(load_processor(tiny_model_dir))
    image = Image.new("RGB", (width, height), "white")
    grid = processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"]
    merge = processor.image_processor.merge_size
    assert image_tokens(processor, width, height) == int(grid.prod()) // (merge * merge)
    assert image_tokens(processor, width, height) <= DEFAULT_MAX_PIXELS // (28 * 28)


def test_a_document_page_is_capped(tiny_model_dir: Path) -> None:
    processor = ImageBudget(max_pixels=1280 * 28 * 28).apply(load_processor(tiny_model_dir))
    # Uncapped (Qwen2.5-VL's shipped 12845056 pixels) the page is 4,000+ tokens.
    assert image_tokens(processor, 1700, 2200) <= 1280
    size = processor.image_processor.size
    assert size["longest_edge"] == 1280 * 28 * 28
    assert size["shortest_edge"] == 56 * 56  # the tiny model's own floor is kept


def test_strips_over_200_to_1_are_rejected_like_the_processor_does(tiny_model_dir: Path) -> None:
    processor = load_processor(tiny_model_dir)
    with pytest.raises(ValueError, match="aspect ratio"):
        processor.image_processor(images=[Image.new("RGB", (3000, 10))], return_tensors="pt")
    with pytest.raises(ImageRejected) as rejected:
        image_tokens(processor, 3000, 10)
    assert rejected.value.reason == "aspect_ratio"


def test_unreadable_images_are_rejected_with_a_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ImageRejected) as rejected:
        image_size(broken)
    assert rejected.value.reason == "unreadable_image"
