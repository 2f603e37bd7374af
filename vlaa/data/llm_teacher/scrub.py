"""Secrets and unstorable text out of what the teacher client keeps: replies, error details, logs.

A teacher may echo what it was sent (the Authorization header, in a 401 body or, from a
careless proxy, in a successful reply). Everything the client returns or raises has been
through a ``Scrubber`` first: the configured API keys (exact values), any ``Bearer <token>``
and the value of an ``Authorization`` / ``api-key`` field become ``***``. Scrubbing runs on the
whole decoded text, before anything is cut to a length, so no part of a key survives a cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "***"

# A token is what may follow "Bearer": anything up to whitespace, a quote or a JSON delimiter.
_TOKEN = r"[^\s\"'`,;)}\]]+"
_BEARER = re.compile(rf"(?i)\b(bearer)(\s+){_TOKEN}")
# "Authorization: Basic abc", "authorization": "xyz", api_key=..., x-api-key: ...
_FIELD = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|api[-_]?key)(\"?'?\s*[:=]\s*\"?'?\s*)"
    rf"(?!{re.escape(REDACTED)})(?:(basic|token|bearer)(\s+))?+(?!{re.escape(REDACTED)}){_TOKEN}"
)


class Scrubber:
    """Replaces the given keys, Bearer tokens and authorization fields with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a key that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _BEARER.sub(rf"\1\2{REDACTED}", text)
        return _FIELD.sub(_field_replacement, text)


def _field_replacement(match: re.Match[str]) -> str:
    name, separator, scheme, gap = match.groups()
    prefix = f"{scheme}{gap}" if scheme else ""
    return f"{name}{separator}{prefix}{REDACTED}"


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` cannot be written as UTF-8 (JSON's ``\\ud800`` escapes decode to this)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable(text: str) -> str:
    """``text`` with lone surrogates replaced, for diagnostics (error details, drop entries)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def shorten(text: str, limit: int) -> str:
    """The first ``limit`` characters, marked when cut; call it on scrubbed text only."""
    return text if len(text) <= limit else text[:limit] + "…"
