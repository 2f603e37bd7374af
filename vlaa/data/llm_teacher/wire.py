"""The OpenAI chat-completions wire format, as the teacher client reads it: failure reason
codes, a completed call's result, and the parsing of replies, errors and Retry-After headers.

Pure functions and data (no I/O), so the client (``client.py``) keeps only the sending: pools,
limits, retries and the cache.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vlaa.data.llm_teacher.prompts import InlineImage
from vlaa.data.llm_teacher.scrub import Scrubber, has_lone_surrogate, printable, shorten
from vlaa.data.offline_teacher import TeacherError

RATE_LIMITED = "teacher_rate_limited"
SERVER_ERROR = "teacher_server_error"
TIMEOUT = "teacher_timeout"
CONNECTION_ERROR = "teacher_connection_error"
MALFORMED_RESPONSE = "teacher_malformed_response"
HTTP_ERROR = "teacher_http_error"
REDIRECTED = "teacher_redirect"  # a 3xx: never followed (it would re-send prompts and images)
TOO_LARGE = "teacher_response_too_large"  # the body passed the endpoint's max_response_bytes
UNSTORABLE = "teacher_unstorable_reply"  # e.g. a lone surrogate: no UTF-8 file can hold it
FAILURE_REASONS: tuple[str, ...] = (
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    CONNECTION_ERROR,
    MALFORMED_RESPONSE,
    HTTP_ERROR,
    REDIRECTED,
    TOO_LARGE,
    UNSTORABLE,
)

DETAIL_CHARS = 300  # how much of an error body goes into a message (cut after scrubbing)


class TeacherConfigError(ValueError):
    """The teacher cannot start (e.g. the API key variable is not set); says what to fix."""


class TeacherCallError(TeacherError):
    """A teacher call failed for good: ``reason`` is one of ``FAILURE_REASONS``.

    ``attempts`` counts the HTTP attempts made (1 for a non-retryable error). The builder
    drops the record with ``reason`` as the drop reason.
    """

    def __init__(self, reason: str, detail: str, attempts: int, step: str | None = None) -> None:
        where = f"{step}: " if step else ""
        super().__init__(f"{where}{reason} after {attempts} attempt(s): {detail}")
        self.reason = reason
        self.detail = detail
        self.attempts = attempts
        self.step = step

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable with its fields (e.g. across a process pool), not just its message.
        return (type(self), (self.reason, self.detail, self.attempts, self.step))


@dataclass(frozen=True)
class ChatResult:
    """One completed call: the text and how it was obtained.

    ``latency_s`` is the wall time of the whole call (queueing, retries, backoff included);
    ``wait_s`` the part spent waiting for a concurrency slot, the rate limiter or a
    Retry-After pause; ``attempts`` is 0 for a cache hit. ``reasoning`` is the separate
    reasoning text some servers return (vLLM's reasoning parser, DeepSeek's API).
    """

    text: str
    attempts: int
    cached: bool
    latency_s: float
    usage: dict[str, Any] | None
    step: str
    model: str
    prompt_version: str
    wait_s: float = 0.0
    reasoning: str | None = None

    def timing(self) -> dict[str, Any]:
        """What the builder records per step in ``record.meta`` (JSON-ready)."""
        return {
            "latency_s": round(self.latency_s, 4),
            "wait_s": round(self.wait_s, 4),
            "attempts": self.attempts,
            "cached": self.cached,
        }


@dataclass
class StepStats:
    """Counters of one teacher step in this process."""

    calls: int = 0
    cache_hits: int = 0
    attempts: int = 0
    latency_s: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "attempts": self.attempts,
            "latency_s": round(self.latency_s, 3),
            "failures": dict(self.failures),
            "retried": dict(self.retried),
        }


class AttemptFailed(Exception):
    """One failed HTTP attempt; tenacity retries it when ``retryable``."""

    def __init__(
        self, reason: str, detail: str, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after
        self.wait_s = 0.0  # queueing time of the failed attempt, for ChatResult.wait_s


@dataclass(frozen=True)
class Reply:
    text: str
    reasoning: str | None
    usage: dict[str, Any] | None
    wait_s: float
    cached: bool = False  # answered by another process sharing the cache, while we waited


def wire_json(value: object) -> object:
    if isinstance(value, InlineImage):
        return value.data_url()
    raise TypeError(f"cannot send a {type(value).__name__} in a request")


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def message_text(content: object) -> str:
    """A message's content as text; list-of-parts content is joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def numbers_only(usage: object) -> dict[str, Any] | None:
    """The token counts of ``usage`` (numbers, one level of nesting); any text is dropped, so
    nothing a server puts there (an echoed header) reaches the cache."""
    if not isinstance(usage, dict):
        return None
    kept: dict[str, Any] = {}
    for name, value in usage.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if _is_number(v)}
        elif not _is_number(value):
            continue
        kept[str(name)] = value
    return kept


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def body_text(raw: bytes, scrub: Scrubber) -> str:
    """A body for a message: JSON re-dumped (so ``\\u`` escapes cannot hide a key), scrubbed,
    then cut to ``DETAIL_CHARS``; never a lone surrogate."""
    try:
        text = json.dumps(json.loads(raw), ensure_ascii=False)
    except (ValueError, RecursionError):
        text = raw.decode("utf-8", errors="replace")
    return shorten(printable(scrub(text)), DETAIL_CHARS)


def parse_completion(raw: bytes, scrub: Scrubber) -> tuple[str, str | None, dict[str, Any] | None]:
    """(content, reasoning, usage) of a chat completion body, scrubbed, else ``AttemptFailed``."""

    def malformed(detail: str) -> AttemptFailed:
        return AttemptFailed(MALFORMED_RESPONSE, detail, retryable=True)

    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the C stack
        raise malformed(f"body is not JSON: {body_text(raw, scrub)!r}") from None
    if not isinstance(payload, dict):
        raise malformed("body is not a JSON object")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise malformed("response has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise malformed("the first choice has no message")
    text = message_text(message.get("content"))
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, str) and reasoning.strip() else None
    if not text.strip() and reasoning is None:
        raise malformed("the message content is empty")
    if has_lone_surrogate(text) or (reasoning is not None and has_lone_surrogate(reasoning)):
        # json.loads turns "\\ud800" into a str no UTF-8 file (records, cache) can hold.
        raise AttemptFailed(UNSTORABLE, "the reply holds a lone UTF-16 surrogate", False)
    return (
        scrub(text),
        scrub(reasoning) if reasoning is not None else None,
        numbers_only(payload.get("usage")),
    )


def status_failure(status: int, raw: bytes, headers: Any, scrub: Scrubber) -> AttemptFailed:
    detail = f"HTTP {status}: {body_text(raw, scrub)}"
    if status == 429:
        return AttemptFailed(RATE_LIMITED, detail, True, parse_retry_after(headers))
    if status == 408:
        return AttemptFailed(TIMEOUT, detail, True)
    if status >= 500:
        return AttemptFailed(SERVER_ERROR, detail, True)
    return AttemptFailed(HTTP_ERROR, detail, retryable=status == 409)
