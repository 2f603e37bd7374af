"""Reading a teacher's HTTP reply without trusting it: bounded size, no redirects.

aiohttp (the client's library) gives the controls: ``allow_redirects=False`` on the request
returns a 3xx as it is instead of following it (``ClientSession._request``), and
``response.content`` is a flow-controlled ``StreamReader`` (aiohttp/streams.py: the socket is
paused while its buffer holds more than twice the ``read_bufsize``, 64 KiB by default;
compressed bodies are inflated chunk by chunk, http_parser.py ``DeflateBuffer``), so reading
it in chunks and stopping at a cap bounds the memory of one reply whatever the server sends.
"""

from __future__ import annotations

import aiohttp
from yarl import URL

from vlaa.data.llm_teacher.scrub import Scrubber, printable, shorten
from vlaa.data.llm_teacher.wire import DETAIL_CHARS, REDIRECTED, TOO_LARGE, AttemptFailed

CHUNK_BYTES = 64 * 1024  # one read from the body stream (aiohttp's default read_bufsize)
ERROR_BODY_BYTES = 64 * 1024  # of an error body, only the start goes into the message


async def read_capped(response: aiohttp.ClientResponse, cap: int, *, whole: bool) -> bytes:
    """The body, read in chunks up to ``cap`` bytes. ``whole`` (a reply): a longer body fails
    as too large, without reading on; else (an error body) only its start is kept."""
    declared = response.content_length
    if whole and declared is not None and declared > cap:
        response.close()
        raise AttemptFailed(TOO_LARGE, f"the reply declares {declared} bytes, over {cap}", False)
    body = bytearray()
    # response.content is aiohttp's StreamReader: it stops reading the socket while its
    # buffer is full, so unread data does not pile up in memory.
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        body += chunk
        if len(body) > cap:
            response.close()  # the connection goes; an endless body is not drained
            if whole:
                raise AttemptFailed(TOO_LARGE, f"the reply passed {cap} bytes, not read on", False)
            return bytes(body[:cap])
    return bytes(body)


def redirect_failure(response: aiohttp.ClientResponse, scrub: Scrubber) -> AttemptFailed:
    """A 3xx fails the call, not retried: following it would send the prompts, the images and
    the Authorization header to wherever the server points. The message names the host."""
    location = response.headers.get("Location", "")
    try:
        target = response.url.join(URL(location)) if location else None
    except ValueError:
        target = None
    host = target.host if target is not None and target.host else "(no usable Location)"
    response.close()  # the body is not read
    detail = printable(scrub(f"HTTP {response.status} redirect to {host}, not followed"))
    return AttemptFailed(REDIRECTED, shorten(detail, DETAIL_CHARS), retryable=False)
