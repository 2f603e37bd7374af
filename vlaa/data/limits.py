"""The input limits of a dataset build: what a source row may cost before it is quarantined.

One hostile row must not take the build (or the training after it) down, so every row is held
to these caps and a row over one is quarantined with a reason (docs/data.md, "Input limits"):

- parsing (``vlaa.data.json_bounds``, ``vlaa.data.json_array_scan``): the bytes of one JSON line
  or array item and its nesting depth, checked while streaming, before any JSON parser sees it;
- validation (``vlaa.data.validation``, ``vlaa.data.image_guard``): the question's length, and
  the image's file size, pixel count and aspect ratio, read from its header before decoding.

The readers learn the limits of the running build through ``use_limits`` (a context variable
the engine sets around reading), so no reader signature carries them; outside a build the
defaults apply. Torch-free: ``BuildDatasetConfig`` embeds ``InputLimits``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field

# Real rows nest 3 to 5 levels (a record, its meta, a conversation turn, a box); json.loads
# recurses once per level and raises RecursionError near 1000, ijson's prefixes cost
# O(depth^2) memory.
DEFAULT_MAX_JSON_DEPTH = 64
# The released rows are under 100 KB (a 4K-token DeepSeek-R1 reasoning is about 16 KB).
DEFAULT_MAX_ROW_BYTES = 1 << 20
# SFT cuts samples at 4096 tokens (TrainingConfig.max_length); 8192 characters is about 2000
# tokens of question, half of that budget.
DEFAULT_MAX_QUESTION_CHARS = 8192
DEFAULT_MAX_IMAGE_BYTES = 32 << 20
# 25 MP: a 6000x4000 photo or a 300 dpi A4 scan. Qwen2.5-VL resizes to at most 1280*28*28
# (about 1 MP) pixels, but decodes the whole image first: 169 MP cost 4.9 GB in SFT.
DEFAULT_MAX_IMAGE_PIXELS = 25_000_000
# transformers' Qwen2-VL smart_resize raises "absolute aspect ratio must be smaller than 200"
# (models/qwen2_vl/image_processing_qwen2_vl.py, transformers 5.x), failing the whole SFT step.
DEFAULT_MAX_IMAGE_ASPECT_RATIO = 200.0


class InputLimits(BaseModel):
    """Caps on one source row; a row over any of them is quarantined with the reason named."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_json_depth: int = Field(
        default=DEFAULT_MAX_JSON_DEPTH,
        ge=2,
        le=512,
        description="deepest nesting of arrays and objects in one JSON row or array item "
        "(reason json_too_deep)",
    )
    max_row_bytes: int = Field(
        default=DEFAULT_MAX_ROW_BYTES,
        ge=1024,
        description="bytes of one JSON line or array item (reason row_too_large)",
    )
    max_question_chars: int = Field(
        default=DEFAULT_MAX_QUESTION_CHARS,
        ge=1,
        description="characters of a question (reason question_too_long)",
    )
    max_image_bytes: int = Field(
        default=DEFAULT_MAX_IMAGE_BYTES,
        ge=1,
        description="bytes of an image file (reason image_too_large)",
    )
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_IMAGE_PIXELS,
        ge=1,
        description="width x height of an image, read from its header before decoding "
        "(reason image_too_many_pixels)",
    )
    max_image_aspect_ratio: float = Field(
        default=DEFAULT_MAX_IMAGE_ASPECT_RATIO,
        ge=1,
        le=DEFAULT_MAX_IMAGE_ASPECT_RATIO,
        description="longer side / shorter side of an image; Qwen2.5-VL refuses more than 200 "
        "(reason image_aspect_ratio)",
    )


DEFAULT_LIMITS = InputLimits()

_CURRENT: ContextVar[InputLimits] = ContextVar("vlaa_input_limits", default=DEFAULT_LIMITS)


@contextmanager
def use_limits(limits: InputLimits) -> Iterator[InputLimits]:
    """Make ``limits`` the ones readers apply until the block ends."""
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


def current_limits() -> InputLimits:
    """The limits of the running build (``use_limits``), else the defaults."""
    return _CURRENT.get()
