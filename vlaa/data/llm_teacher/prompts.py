"""Our own versioned prompts for the four teacher steps (the paper's data pipeline, steps 2-5).

Each step has a system prompt, a builder of the OpenAI chat ``messages`` and a
``PROMPT_VERSIONS`` label that is part of the response-cache key: change a prompt's wording and
bump its version, or the cache keeps serving answers to the old wording.

An image travels as an ``InlineImage`` part inside the messages; the client turns it into a
``data:`` URL only when it sends the request, and the cache hashes its bytes, so a cache hit
never base64-encodes the image.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from vlaa.data.llm_teacher.config import TeacherStep
from vlaa.records import Record

Message = dict[str, Any]

PROMPT_VERSIONS: dict[TeacherStep, str] = {
    "caption": "caption-v1",
    "reason": "reason-v1",
    "rewrite": "rewrite-v1",
    "verify": "verify-v1",
}

CAPTION_SYSTEM = (
    "You describe images for a reader who cannot see them. Write a detailed, structured caption "
    "from which someone could answer any question about the image without seeing it."
)

CAPTION_INSTRUCTIONS = """Describe this image in these sections:
1. Setting: the kind of image (photo, diagram, chart, document, rendered scene, ...) and the \
overall scene.
2. Objects: every notable object with its colour, size, shape, material and position (left, \
right, top, bottom, and relative to other objects); give counts.
3. Text: all visible text transcribed verbatim, in reading order; write "none" if there is none.
4. Math: every equation or formula in LaTeX exactly as shown; do not solve or simplify anything.
5. Tables and charts: reproduce tables as Markdown tables; for charts give the type, axes, \
labels, legend and the values that can be read off, as a Markdown table.
Describe only what is visible. No commentary, no interpretation of the image's purpose, and no \
answer to any question."""

CAPTION_CONTEXT = (
    "Information about this image from its dataset (use it to make the caption precise, but "
    "describe only what the image shows):\n{context}"
)

REASON_SYSTEM = (
    "You are an expert at solving visual questions. You are given what you see in an image as "
    "text: treat it as your own vision, as if you were looking at the image yourself. Never "
    "mention a caption, a description or that the image was described to you; speak only of "
    "the image and what you see in it. Think step by step inside <think> </think>, then give "
    "the final answer inside <answer> </answer>."
)

REASON_ANSWER_FORMS: dict[str, str] = {
    "digit": "The final answer is a single number.",
    "mcq": "The final answer is the letter of the correct option only (for example: B).",
    "math": (
        "The final answer is a value or expression in LaTeX without units; when the question "
        "asks for an expression, give the whole expression, not only variable values."
    ),
    "iou": (
        "The final answer is the bounding box [x1, y1, x2, y2] with coordinates normalised to "
        "the range 0 to 1, three decimals each."
    ),
    "open": "The final answer is a concise phrase or sentence.",
}

REASON_OUTPUT_FORM = (
    "Reply in exactly this form:\n<think>your reasoning</think>\n<answer>your final answer</answer>"
)

REWRITE_SYSTEM = (
    'You edit reasoning text. Replace every reference to a "caption", a "description" or a '
    '"rationale" (for example "the caption says", "according to the description", "the '
    'rationale mentions") with wording about the image (for example "the image shows", '
    '"according to the image", "in the image"). Change nothing else: keep every other word, '
    "the reasoning, the answer, numbers, LaTeX, line breaks and tags such as <think> and "
    "<answer> exactly as they are. If there is nothing to replace, return the text unchanged. "
    "Reply with the edited text only, without quotes or comments."
)

VERIFY_SYSTEM = (
    "You are a strict grader. Decide whether the candidate answer to the question means the "
    "same as the reference answer. Equivalent forms of the same answer count as the same (an "
    'option letter with or without brackets, "0.5" and "1/2", equal expressions); a different '
    'value, option or box does not. Reply with only "Yes" or "No".'
)

VERIFY_USER = (
    "Question:\n{question}\n\n"
    "<reference>{reference}</reference>\n"
    "<candidate>{candidate}</candidate>"
)

SYSTEM_PROMPTS: dict[TeacherStep, str] = {
    "caption": CAPTION_SYSTEM,
    "reason": REASON_SYSTEM,
    "rewrite": REWRITE_SYSTEM,
    "verify": VERIFY_SYSTEM,
}


@dataclass(frozen=True, eq=False)
class InlineImage:
    """Image bytes to send as a ``data:`` URL; hashed by content, encoded only when sent."""

    data: bytes = field(repr=False)
    mime: str

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("image bytes are empty")
        if not self.mime.startswith("image/"):
            raise ValueError(f"mime type {self.mime!r} is not an image type")

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def record_context(record: Record) -> str | None:
    """The per-source extra context (``meta["context"]``) as text, or None when absent."""
    context = record.meta.get("context")
    if context is None or context == "":
        return None
    if isinstance(context, str):
        return context.strip() or None
    return json.dumps(context, ensure_ascii=False, sort_keys=True, indent=1)


def caption_messages(record: Record, image: InlineImage) -> list[Message]:
    """Step 2: the image plus the structured-caption instructions (and the dataset context)."""
    text = CAPTION_INSTRUCTIONS
    context = record_context(record)
    if context is not None:
        text += "\n\n" + CAPTION_CONTEXT.format(context=context)
    return [
        {"role": "system", "content": CAPTION_SYSTEM},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": image}},
                {"type": "text", "text": text},
            ],
        },
    ]


def reason_messages(record: Record, caption: str) -> list[Message]:
    """Step 3: text only; the caption stands in for the image, the answer form by reward type."""
    parts = [f"What you see in the image:\n{caption.strip()}"]
    context = record_context(record)
    if context is not None:
        parts.append(f"Additional information:\n{context}")
    parts.append(f"Question: {record.question.strip()}")
    parts.append(REASON_ANSWER_FORMS[record.reward_type] + "\n" + REASON_OUTPUT_FORM)
    return [
        {"role": "system", "content": REASON_SYSTEM},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def rewrite_messages(text: str) -> list[Message]:
    """Step 4: the text to edit goes verbatim as the user message, nothing wrapped around it."""
    return [
        {"role": "system", "content": REWRITE_SYSTEM},
        {"role": "user", "content": text},
    ]


def verify_messages(answer: str, ground_truth: str, question: str) -> list[Message]:
    """Step 5: question, reference and candidate in tags, so multi-line answers stay apart."""
    user = VERIFY_USER.format(
        question=question.strip(), reference=ground_truth.strip(), candidate=answer.strip()
    )
    return [
        {"role": "system", "content": VERIFY_SYSTEM},
        {"role": "user", "content": user},
    ]
