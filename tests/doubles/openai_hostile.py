"""Hostile replies of the OpenAI double (``openai_api.py``): what a broken or malicious
teacher endpoint, or a proxy in front of one, may send back.

Each is a fault kind of the double (``[[fault:KIND]]`` in a request, or its ``schedule``):

- ``huge``: a valid completion whose content is ``huge_bytes`` long, Content-Length declared;
- ``endless``: a completion streamed (chunked, no length) that never ends;
- ``redirect``: a 307 to ``redirect_to`` (e.g. another double, which must see nothing);
- ``echo_key``: a valid answer whose reasoning and usage echo the Authorization header and the
  bare key it was sent;
- ``surrogate``: a valid completion whose content holds a lone surrogate (JSON ``\\ud800``);
- ``error_echo_key``: a 400 whose message echoes the header past the 300th character;
- ``error_endless``: a 500 whose body never ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

HOSTILE: tuple[str, ...] = (
    "huge",
    "endless",
    "redirect",
    "echo_key",
    "surrogate",
    "error_echo_key",
    "error_endless",
)
CHUNK = b"x" * 65536
_REPLY_HEAD = b'{"id":"chatcmpl-hostile","object":"chat.completion","choices":[{"index":0,'
_CONTENT_HEAD = _REPLY_HEAD + b'"message":{"role":"assistant","content":"'
_CONTENT_TAIL = b'"},"finish_reason":"stop"}]}'


def completion(message: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


async def _stream_forever(request: web.Request, status: int, head: bytes) -> web.StreamResponse:
    response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    # The client hangs up at its cap; the write then fails (or the handler is cancelled).
    with contextlib.suppress(ConnectionError, RuntimeError):
        await response.write(head)
        while True:
            await response.write(CHUNK)
            await asyncio.sleep(0)
    return response


def _echoed(request: web.Request) -> str:
    header = request.headers.get("Authorization", "(none)")
    return f"Authorization: {header}; key {header.removeprefix('Bearer ')}"


async def hostile_reply(
    request: web.Request, kind: str, answer: str, huge_bytes: int, redirect_to: str
) -> web.StreamResponse:
    """The reply of hostile ``kind``; ``answer`` is what an honest server would have said."""
    if kind == "huge":
        body = _CONTENT_HEAD + b"x" * huge_bytes + _CONTENT_TAIL
        return web.Response(body=body, content_type="application/json")
    if kind == "endless":
        return await _stream_forever(request, 200, _CONTENT_HEAD)
    if kind == "error_endless":
        return await _stream_forever(request, 500, b'{"error":{"message":"')
    if kind == "redirect":
        raise web.HTTPTemporaryRedirect(redirect_to)
    if kind == "echo_key":
        echo = _echoed(request)
        text = answer.replace("<think>", f"<think>Debug {echo}. ", 1)
        if text == answer:
            text = f"{answer} (debug {echo})"
        usage = {"prompt_tokens": 1, "completion_tokens": 2, "note": echo}
        return web.json_response(completion({"role": "assistant", "content": text}, usage))
    if kind == "surrogate":
        content = answer + " \ud800"  # json.dumps writes it as the escape \ud800
        return web.json_response(completion({"role": "assistant", "content": content}))
    if kind == "error_echo_key":
        message = "x" * 290 + f" the request had {_echoed(request)}"
        error = {"error": {"message": message, "type": "invalid_request_error"}}
        return web.Response(text=json.dumps(error), status=400, content_type="application/json")
    raise ValueError(f"not a hostile kind: {kind}")
