"""Image-size budget: the one place processor image settings are built for every consumer.

Training (SFT / GRPO), evaluation and vLLM (``mm_processor_kwargs``) all take their image
bounds from an :class:`ImageBudget`, so a model sees images of the same sizes everywhere.
Torch-free at import; transformers is imported only to count visual tokens.

Qwen2.5-VL resizes each image to multiples of ``patch_size * merge_size`` (28) pixels with
an area in ``[min_pixels, max_pixels]`` (transformers' ``smart_resize``), and one visual
token covers 28x28 pixels. Its image processor refuses aspect ratios above 200.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Qwen2-VL's image processor default lower bound (``size.shortest_edge`` = 56*56).
DEFAULT_MIN_PIXELS = 56 * 56
# The paper's evaluation cap (256*32*32, vlaa.benchmarks.protocol.MAX_PIXELS), repeated here so
# configs stay light: training at the resolution the model is evaluated at. At most 334 visual
# tokens an image; Qwen's recommended training cap 1280*28*28 allows 1,280.
DEFAULT_MAX_PIXELS = 256 * 32 * 32
# transformers' smart_resize: "absolute aspect ratio must be smaller than 200".
MAX_ASPECT_RATIO = 200


class ImageRejected(ValueError):
    """An image the processor cannot turn into visual tokens; ``reason`` is a short key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageBudget:
    """Bounds of an image's area in pixels after resizing (``min_pixels`` None: the model's)."""

    max_pixels: int
    min_pixels: int | None = None

    def processor_kwargs(self) -> dict[str, int]:
        """For ``AutoProcessor.from_pretrained`` / vLLM's ``mm_processor_kwargs``."""
        kwargs = {"max_pixels": self.max_pixels}
        if self.min_pixels is not None:
            kwargs["min_pixels"] = self.min_pixels
        return kwargs

    def apply(self, processor: Any) -> Any:
        """Set the bounds on a loaded processor's image processor; returns ``processor``.

        Qwen2-VL's ``size`` holds them as pixel counts (``longest_edge`` = max, ``shortest_edge``
        = min). Set on the loaded processor rather than passed to ``from_pretrained``:
        transformers 5 would otherwise forward ``max_pixels`` to every call, which is deprecated.
        """
        image_processor = processor.image_processor
        low, _ = _bounds(image_processor.size)
        low = self.min_pixels if self.min_pixels is not None else low
        low = min(low, self.max_pixels) if low is not None else None
        size = image_processor.size
        if dataclasses.is_dataclass(size):  # transformers' SizeDict
            image_processor.size = dataclasses.replace(
                size, longest_edge=self.max_pixels, shortest_edge=low
            )
        else:
            size = dict(size or {})
            size["longest_edge"] = self.max_pixels
            if low is not None:
                size["shortest_edge"] = low
            image_processor.size = size
        if getattr(image_processor, "max_pixels", None) is not None:
            image_processor.max_pixels = self.max_pixels
        if low is not None and getattr(image_processor, "min_pixels", None) is not None:
            image_processor.min_pixels = low
        return processor


def _bounds(size: Any) -> tuple[int | None, int | None]:
    if dataclasses.is_dataclass(size):
        return size.shortest_edge, size.longest_edge
    size = dict(size or {})
    return size.get("shortest_edge"), size.get("longest_edge")


def image_tokens(processor: Any, width: int, height: int) -> int:
    """Visual tokens the processor expands a ``width`` x ``height`` image into.

    Uses transformers' own ``smart_resize`` with the processor's bounds, so the count is the
    processor's; raises :class:`ImageRejected` where the processor would raise.
    """
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    image_processor = processor.image_processor
    patch, merge = image_processor.patch_size, image_processor.merge_size
    low, high = _bounds(image_processor.size)
    if min(width, height) < 1 or max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ImageRejected(
            "aspect_ratio",
            f"{width}x{height} is over {MAX_ASPECT_RATIO}:1, which Qwen2.5-VL's processor refuses",
        )
    resized_h, resized_w = smart_resize(
        height, width, factor=patch * merge, min_pixels=low, max_pixels=high
    )
    return (resized_h // patch) * (resized_w // patch) // (merge * merge)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header; :class:`ImageRejected` if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError) as error:
        raise ImageRejected("unreadable_image", f"{path.name}: {error}") from error
