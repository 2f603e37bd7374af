"""The LLM teacher: the four teacher steps over OpenAI-compatible chat endpoints.

Every step method is a coroutine returning a ``ChatResult``: the step's text in ``.text`` and
how it was obtained (``cached``, ``attempts``, ``latency_s``, ``wait_s``, ``model``,
``prompt_version``; ``.timing()`` is the JSON-ready part for ``record.meta``). Returning the
information with the text, rather than keeping a "last call" on the teacher, keeps it right
when many records are in flight at once::

    async with LLMTeacher(config) as teacher:
        caption = await teacher.caption(record, image_bytes, "image/png")
        reasoning = await teacher.reason(record, caption.text)
        record.meta.setdefault("timings", {})["caption"] = caption.timing()

A call that fails for good raises ``TeacherCallError`` (a ``TeacherError``, like the offline
teacher's) whose ``reason`` is the drop reason. Use one teacher within one event loop.
"""

from __future__ import annotations

import dataclasses
from types import TracebackType
from typing import Any

from vlaa.data.llm_teacher.cache import ResponseCache
from vlaa.data.llm_teacher.client import ChatClient
from vlaa.data.llm_teacher.config import LLMTeacherConfig, TeacherStep
from vlaa.data.llm_teacher.prompts import (
    InlineImage,
    caption_messages,
    reason_messages,
    rewrite_messages,
    verify_messages,
)
from vlaa.data.llm_teacher.wire import MALFORMED_RESPONSE, ChatResult, TeacherCallError
from vlaa.data.offline_teacher import TeacherError
from vlaa.records import Record


def _with_thinking(result: ChatResult) -> ChatResult:
    """Put a separately returned reasoning back as ``<think>...</think>`` before the answer."""
    if result.reasoning is None or "<think>" in result.text:
        return result
    text = f"<think>{result.reasoning.strip()}</think>\n{result.text.strip()}"
    return dataclasses.replace(result, text=text)


def _require_content(result: ChatResult) -> ChatResult:
    """Caption, rewrite and verify need the message content (a reasoning alone is no answer)."""
    if not result.text.strip():
        raise TeacherCallError(
            MALFORMED_RESPONSE,
            "the reply carries reasoning but no message content",
            result.attempts,
            result.step,
        )
    return result


class LLMTeacher:
    """Caption, reason, rewrite and verify with the endpoints of an ``LLMTeacherConfig``.

    Construction reads the API keys from the environment (``TeacherConfigError`` naming a
    missing variable) and opens the response cache in ``config.cache_dir``.
    """

    name = "llm"

    def __init__(self, config: LLMTeacherConfig, cache: ResponseCache | None = None) -> None:
        self.config = config
        self.client = ChatClient(config, cache)

    # Step 2: captioning (vision model).
    async def caption(self, record: Record, image_bytes: bytes, mime: str) -> ChatResult:
        """A structured caption of the image (sent as a data: URL), with the record's context."""
        try:
            image = InlineImage(image_bytes, mime)
        except ValueError as error:
            raise TeacherError(f"{record.id}: cannot caption the image: {error}") from None
        result = await self.client.complete("caption", caption_messages(record, image))
        return _require_content(result)

    # Step 3: reasoning distillation (text-only reasoning model).
    async def reason(self, record: Record, caption: str) -> ChatResult:
        """``<think>...</think>`` then the answer (in ``<answer>`` tags when the model obeys)."""
        result = await self.client.complete("reason", reason_messages(record, caption))
        return _with_thinking(result)

    # Step 4: answer rewrite (cheap LLM).
    async def rewrite(self, text: str) -> ChatResult:
        """``text`` with references to a caption / description / rationale made about the image."""
        return _require_content(await self.client.complete("rewrite", rewrite_messages(text)))

    # Step 5: verification (LLM judge).
    async def verify(self, answer: str, ground_truth: str, question: str) -> ChatResult:
        """The judge's verdict text ("Yes" / "No"); parse it with ``rules.parse_verification``."""
        messages = verify_messages(answer, ground_truth, question)
        return _require_content(await self.client.complete("verify", messages))

    def labels(self) -> dict[str, Any]:
        """What this teacher writes into ``record.meta`` and the data card."""
        endpoints = self.config.endpoints()
        return {
            "teacher": self.name,
            "teacher_models": {step: endpoint.model for step, endpoint in endpoints.items()},
            "prompt_versions": dict(self.client.prompt_versions),
        }

    def stats(self) -> dict[str, Any]:
        """Per step: calls, cache hits, HTTP attempts, latency sum, failures and retries by
        reason; plus the cache's hit and miss counters."""
        return self.client.stats()

    def model(self, step: TeacherStep) -> str:
        return self.config.endpoint(step).model

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> LLMTeacher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
