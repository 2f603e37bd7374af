"""Greedy batch generation for evaluation: vLLM when a GPU and vLLM are present, else transformers.

Both backends take the same :class:`GenerationRequest` s (chat messages plus image files) and
return one completion per request, in order, decoded without special tokens. Decoding is the
paper's: greedy, at most ``max_new_tokens`` new tokens, images capped at ``max_pixels``
through the processor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from vlaa.errors import UserError
from vlaa.evaluation.config import GenerationChoice
from vlaa.modeling.image_budget import ImageBudget
from vlaa.modeling.vllm import vllm_available, vllm_unavailable_message

logger = logging.getLogger(__name__)

VLLM_CHUNK = 512  # prompts handed to vLLM per generate call


class GenerationError(UserError):
    """Generation cannot run as configured (an image that cannot be read, vLLM missing)."""


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt: chat messages for the processor's chat template, and its image files."""

    messages: list[dict[str, Any]]
    images: list[Path]
    label: str = field(default="", compare=False)  # names the item in error messages


class Generator(Protocol):
    """What the evaluate step needs from a backend."""

    backend: str

    def generate(self, requests: Sequence[GenerationRequest], desc: str = "") -> list[str]: ...


def open_images(request: GenerationRequest) -> list[Image.Image]:
    """The request's images as RGB, or a one-line error naming the item and the file."""
    images = []
    for path in request.images:
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except OSError as error:
            raise GenerationError(f"{request.label}: cannot read image {path}: {error}") from error
    return images


def resolve_backend(choice: GenerationChoice) -> str:
    """``vllm`` or ``transformers`` for a configured choice; ``vllm`` must be usable if named."""
    if choice == "transformers":
        return "transformers"
    usable = vllm_available()
    if choice == "vllm" and not usable:
        raise GenerationError(
            vllm_unavailable_message(
                "evaluate.generation is 'vllm'", "use 'auto' or 'transformers'"
            )
        )
    return "vllm" if usable else "transformers"


def load_eval_processor(model_dir: Path, max_pixels: int) -> Any:
    """The model's processor with the evaluation image cap, left padding for batches."""
    from transformers import AutoProcessor

    from vlaa.modeling.loading import check_model_dir

    check_model_dir(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    apply_max_pixels(processor, max_pixels)
    processor.tokenizer.padding_side = "left"
    return processor


def apply_max_pixels(processor: Any, max_pixels: int) -> None:
    """Cap images at ``max_pixels``, as training and vLLM do (``vlaa.modeling.image_budget``)."""
    ImageBudget(max_pixels=max_pixels).apply(processor)


def prompt_text(processor: Any, request: GenerationRequest) -> str:
    return processor.apply_chat_template(request.messages, add_generation_prompt=True)


# ----------------------------------------------------------------------------- transformers


class TransformersGenerator:
    """``model.generate`` in batches of ``batch_size`` prompts, greedy, left-padded."""

    backend = "transformers"

    def __init__(
        self, model_dir: Path, *, max_new_tokens: int, max_pixels: int, batch_size: int
    ) -> None:
        from vlaa.modeling.loading import inference_dtype, load_model

        self.processor = load_eval_processor(model_dir, max_pixels)
        self.model = load_model(model_dir, dtype=inference_dtype()).eval()
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size

    def generate(self, requests: Sequence[GenerationRequest], desc: str = "") -> list[str]:
        from tqdm import tqdm

        completions: list[str] = []
        with tqdm(total=len(requests), desc=desc or "generate", unit="sample") as progress:
            for start in range(0, len(requests), self.batch_size):
                batch = requests[start : start + self.batch_size]
                completions.extend(self._batch(batch))
                progress.update(len(batch))
        return completions

    def _batch(self, batch: Sequence[GenerationRequest]) -> list[str]:
        import torch

        texts = [prompt_text(self.processor, request) for request in batch]
        images = [image for request in batch for image in open_images(request)]
        inputs = self.processor(
            text=texts, images=images or None, return_tensors="pt", padding=True
        ).to(self.model.device)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.processor.tokenizer.pad_token_id,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)


# ----------------------------------------------------------------------------- vLLM (GPU only)


class VLLMGenerator:
    """vLLM offline batch generation; used only on a GPU with vLLM installed.

    The prompt text comes from the model's own chat template (as with transformers), the
    images go in as ``multi_modal_data``; vLLM schedules the whole list itself.
    """

    backend = "vllm"

    def __init__(
        self, model_dir: Path, *, max_new_tokens: int, max_pixels: int, max_images: int
    ) -> None:
        from vllm import LLM, SamplingParams

        self.processor = load_eval_processor(model_dir, max_pixels)
        self.llm = LLM(
            model=str(model_dir),
            limit_mm_per_prompt={"image": max(1, max_images)},
            mm_processor_kwargs=ImageBudget(max_pixels=max_pixels).processor_kwargs(),
            seed=0,
        )
        self.sampling = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)

    def generate(self, requests: Sequence[GenerationRequest], desc: str = "") -> list[str]:
        completions: list[str] = []
        # Chunks bound how many decoded images are held at once; vLLM batches within each.
        for start in range(0, len(requests), VLLM_CHUNK):
            prompts = [
                {
                    "prompt": prompt_text(self.processor, request),
                    "multi_modal_data": {"image": open_images(request)},
                }
                for request in requests[start : start + VLLM_CHUNK]
            ]
            outputs = self.llm.generate(prompts, self.sampling)
            completions.extend(output.outputs[0].text for output in outputs)
        return completions


def make_generator(
    choice: GenerationChoice,
    model_dir: Path,
    *,
    max_new_tokens: int,
    max_pixels: int,
    batch_size: int,
    max_images: int = 1,
) -> Generator:
    """The backend for ``choice`` (``auto``: vLLM on a GPU with vLLM installed)."""
    backend = resolve_backend(choice)
    logger.info("evaluation generation backend: %s", backend)
    if backend == "vllm":
        return VLLMGenerator(
            model_dir, max_new_tokens=max_new_tokens, max_pixels=max_pixels, max_images=max_images
        )
    return TransformersGenerator(
        model_dir, max_new_tokens=max_new_tokens, max_pixels=max_pixels, batch_size=batch_size
    )
