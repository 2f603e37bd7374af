"""LLM teachers over OpenAI-compatible chat endpoints (caption, reason, rewrite, verify)."""

from vlaa.data.llm_teacher.cache import CacheError, ResponseCache
from vlaa.data.llm_teacher.client import ChatClient
from vlaa.data.llm_teacher.config import (
    TEACHER_STEPS,
    LLMTeacherConfig,
    TeacherEndpoint,
    TeacherStep,
)
from vlaa.data.llm_teacher.prompts import PROMPT_VERSIONS, InlineImage
from vlaa.data.llm_teacher.teacher import LLMTeacher
from vlaa.data.llm_teacher.wire import (
    FAILURE_REASONS,
    ChatResult,
    TeacherCallError,
    TeacherConfigError,
)

__all__ = [
    "FAILURE_REASONS",
    "PROMPT_VERSIONS",
    "TEACHER_STEPS",
    "CacheError",
    "ChatClient",
    "ChatResult",
    "InlineImage",
    "LLMTeacher",
    "LLMTeacherConfig",
    "ResponseCache",
    "TeacherCallError",
    "TeacherConfigError",
    "TeacherEndpoint",
    "TeacherStep",
]
