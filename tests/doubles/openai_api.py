"""A real HTTP server on loopback speaking the OpenAI chat-completions protocol, for tests.

It answers ``POST /v1/chat/completions`` like an OpenAI-compatible server, with a fixed
latency, optional Bearer-key checking and injected faults, and counts what it saw:

- faults by deterministic schedule (``schedule``: one entry per arriving chat request, in
  order; ``"ok"`` answers normally) and then by rate (``fault_rate``: decided by a hash of the
  request's content and how often that content arrived, so it does not depend on arrival order
  under concurrency); kinds in ``FAULTS``;
- answers from a pluggable ``answer(step, messages) -> str``; the step is recognised by our
  system prompts. The default scripts itself from markers: a reason question holding
  ``[[answer:X]]`` (and optionally ``[[think:T]]``) is answered ``<think>T</think>
  <answer>X</answer>``; captions, rewrites and verdicts are computed (see ``default_answer``);
- counts: requests received, answered, answered per content key (sha256 of the body without
  volatile fields) so a test can assert zero repeated calls, faults by kind, in flight and
  the most ever in flight, arrival times.

Two ways to run it:
- in-process: ``with OpenAIDouble(DoubleConfig(latency_s=0.01)) as double: double.url``
  (a background thread with its own event loop);
- as a separate process, so it outlives a SIGKILLed client:
  ``python tests/doubles/openai_api.py --port 0 --latency 0.2`` prints ``LISTENING <url>``;
  ``DoubleProcess`` wraps that. Control API: ``GET /_stats``, ``POST /_config`` (JSON of
  ``DoubleConfig`` fields to change), ``POST /_reset`` (zero the counters).
  The required API key is passed by environment variable name (``--api-key-env``), never argv.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from vlaa.data.llm_teacher.prompts import SYSTEM_PROMPTS

try:  # as tests' doubles package, or run as a script from tests/doubles
    from doubles.openai_hostile import HOSTILE, hostile_reply
except ImportError:  # pragma: no cover - script mode
    from openai_hostile import HOSTILE, hostile_reply  # type: ignore[no-redef]

FAULTS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "400",
    "timeout",
    "not_json",
    "no_choices",
    "empty_content",
    "disconnect",
    *HOSTILE,  # openai_hostile.py: huge, endless, redirect, key echoes, lone surrogate
)
OK = "ok"
VOLATILE_FIELDS: tuple[str, ...] = ("user", "metadata", "request_id")
LISTENING = "LISTENING"

Answerer = Callable[[str, list[dict[str, Any]]], str]

_ANSWER_MARK = re.compile(r"\[\[answer:(.*?)\]\]", re.DOTALL)
_THINK_MARK = re.compile(r"\[\[think:(.*?)\]\]", re.DOTALL)
_REFERENCE = re.compile(r"<reference>(.*?)</reference>", re.DOTALL)
_CANDIDATE = re.compile(r"<candidate>(.*?)</candidate>", re.DOTALL)
_CAPTION_WORD = re.compile(r"\bcaption\b", re.IGNORECASE)
# A request whose body holds "[[fault:KIND]]" always gets that fault (a record that fails for
# good, whatever the retries); KIND is one of FAULTS.
_FAULT_MARK = re.compile(r"\[\[fault:(\w+)\]\]")
HELD = "held"


@dataclass
class DoubleConfig:
    """What the double does; every field can be changed at run time (``configure``)."""

    latency_s: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: list[str] = field(default_factory=lambda: ["500"])
    schedule: list[str] = field(default_factory=list)
    retry_after: str | None = "0"  # Retry-After header of a 429; None sends none
    retry_after_ms: float | None = None  # OpenAI's retry-after-ms header of a 429
    hang_s: float = 30.0  # how long a "timeout" fault sleeps before answering
    api_key: str | None = None  # when set, "Authorization: Bearer <api_key>" is required
    echo_auth_on_401: bool = True  # a careless server echoing the key it got in the error
    separate_reasoning: bool = False  # reason step: thinking in message.reasoning_content
    seed: int = 0
    # Once this many requests were answered, hold every later one unanswered (for a kill
    # test: nothing is answered that the client could lose); None: never. A held request
    # gets a 503 when the hold is lifted (configure(hold_after_answers=None)).
    hold_after_answers: int | None = None
    huge_bytes: int = 50 * 1024 * 1024  # content size of a "huge" reply
    redirect_to: str = "http://127.0.0.1:9/v1/chat/completions"  # where "redirect" points

    def __post_init__(self) -> None:
        for kind in [*self.fault_kinds, *self.schedule]:
            if kind != OK and kind not in FAULTS:
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")


def _user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message (text parts joined)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


def _image_urls(messages: list[dict[str, Any]]) -> list[str]:
    urls = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            urls += [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
    return urls


def step_of(messages: list[dict[str, Any]]) -> str:
    """Which teacher step a request is, by its system prompt; "unknown" for others."""
    system = messages[0].get("content") if messages and messages[0].get("role") == "system" else ""
    for step, prompt in SYSTEM_PROMPTS.items():
        if system == prompt:
            return step
    return "unknown"


def _keep_case(match: re.Match[str]) -> str:
    return "Image" if match.group(0)[:1].isupper() else "image"


def default_answer(step: str, messages: list[dict[str, Any]]) -> str:
    """Deterministic answers computed from the request, scriptable by markers."""
    text = _user_text(messages)
    if step == "caption":
        urls = _image_urls(messages)
        digest = hashlib.sha256(urls[0].encode()).hexdigest()[:12] if urls else "no-image"
        context = " Context was given." if "Information about this image" in text else ""
        return (
            f"Setting: a test image {digest}.\nObjects: 1. a red cube on the left.\n"
            f"Text: none.{context}"
        )
    if step == "reason":
        answer = _ANSWER_MARK.search(text)
        think = _THINK_MARK.search(text)
        thinking = think.group(1) if think else "I look at the image and work out the answer."
        return (
            f"<think>{thinking}</think>\n"
            f"<answer>{answer.group(1) if answer else 'unknown'}</answer>"
        )
    if step == "rewrite":
        return _CAPTION_WORD.sub(_keep_case, text)
    if step == "verify":
        reference = _REFERENCE.search(text)
        candidate = _CANDIDATE.search(text)
        if reference is None or candidate is None:
            return "No"
        same = reference.group(1).strip().casefold() == candidate.group(1).strip().casefold()
        return "Yes" if same else "No"
    return "ok"


def content_key(body: dict[str, Any]) -> str:
    """sha256 of a request body in canonical JSON without volatile fields."""
    stable = {k: v for k, v in body.items() if k not in VOLATILE_FIELDS}
    canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _unit(*parts: object) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": None}}


class DoubleServer:
    """The state and the aiohttp application; used by both run modes."""

    def __init__(self, config: DoubleConfig | None = None, answer: Answerer = default_answer):
        self.config = config or DoubleConfig()
        self.answer = answer
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.received = 0
        self.answered = 0
        self.unauthorized = 0
        self.faults: Counter[str] = Counter()
        self.received_per_key: Counter[str] = Counter()
        self.answered_per_key: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[float] = []
        self.bodies: deque[dict[str, Any]] = deque(maxlen=50)  # the last chat bodies
        self._schedule_position = 0

    def reset(self) -> None:
        with self._lock:
            self._reset_counters()

    def configure(self, **changes: Any) -> None:
        with self._lock:
            updated = dataclasses.replace(self.config, **changes)
            self.config = updated
            self._schedule_position = 0 if "schedule" in changes else self._schedule_position

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": self.received,
                "answered": self.answered,
                "unauthorized": self.unauthorized,
                "faults": dict(self.faults),
                "received_per_key": dict(self.received_per_key),
                "answered_per_key": dict(self.answered_per_key),
                "max_answers_per_key": max(self.answered_per_key.values(), default=0),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "arrivals": list(self.arrivals),
            }

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/_stats", self._get_stats)
        app.router.add_post("/_config", self._post_config)
        app.router.add_post("/_reset", self._post_reset)
        return app

    async def _get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _post_config(self, request: web.Request) -> web.Response:
        try:
            self.configure(**await request.json())
        except (TypeError, ValueError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(dataclasses.asdict(self.config))

    async def _post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    def _arrive(self, key: str, body: dict[str, Any]) -> tuple[DoubleConfig, str]:
        """Count an arriving chat request; return the config and the fault to play (or OK)."""
        with self._lock:
            self.received += 1
            self.received_per_key[key] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.arrivals.append(time.monotonic() - self._started)
            self.bodies.append(body)
            config = self.config
            marked = _FAULT_MARK.search(json.dumps(body, ensure_ascii=False))
            holding = (
                config.hold_after_answers is not None and self.answered >= config.hold_after_answers
            )
            if holding:
                fault = HELD
            elif marked and marked.group(1) in FAULTS:
                fault = marked.group(1)
            elif self._schedule_position < len(config.schedule):
                fault = config.schedule[self._schedule_position]
                self._schedule_position += 1
            elif _unit(config.seed, key, self.received_per_key[key]) < config.fault_rate:
                pick = _unit(config.seed, key, self.received_per_key[key], "kind")
                fault = config.fault_kinds[int(pick * len(config.fault_kinds))]
            else:
                fault = OK
            if fault != OK:
                self.faults[fault] += 1
            return config, fault

    def _answered(self, key: str) -> None:
        with self._lock:
            self.answered += 1
            self.answered_per_key[key] += 1

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        config = self.config
        if config.api_key is not None:
            given = request.headers.get("Authorization", "")
            if given != f"Bearer {config.api_key}":
                with self._lock:
                    self.unauthorized += 1
                shown = given if config.echo_auth_on_401 else "(hidden)"
                message = f"Incorrect API key provided: {shown}"
                return web.json_response(_error_body(message, "invalid_request_error"), status=401)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(_error_body("body is not JSON", "invalid_request"), 400)
        key = content_key(body)
        config, fault = self._arrive(key, body)
        try:
            return await self._respond(request, body, key, config, fault)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _respond(
        self,
        request: web.Request,
        body: dict[str, Any],
        key: str,
        config: DoubleConfig,
        fault: str,
    ) -> web.StreamResponse:
        if fault == HELD:
            while self.config.hold_after_answers is not None:
                await asyncio.sleep(0.01)
            return web.json_response(_error_body("held, then released", "server_error"), 503)
        if fault == "timeout":
            await asyncio.sleep(config.hang_s)
        elif config.latency_s > 0:
            await asyncio.sleep(config.latency_s)
        if fault == "429":
            headers = {}
            if config.retry_after is not None:
                headers["Retry-After"] = config.retry_after
            if config.retry_after_ms is not None:
                headers["retry-after-ms"] = str(config.retry_after_ms)
            error = _error_body("Rate limit reached", "rate_limit_exceeded")
            return web.json_response(error, status=429, headers=headers)
        if fault in ("500", "502", "503"):
            return web.json_response(_error_body("server error", "server_error"), status=int(fault))
        if fault == "400":
            return web.json_response(_error_body("bad request", "invalid_request"), status=400)
        if fault == "not_json":
            return web.Response(text="<html>upstream hiccup</html>", content_type="text/html")
        if fault == "no_choices":
            return web.json_response({"id": "chatcmpl-double", "object": "chat.completion"})
        if fault == "disconnect":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        messages = body.get("messages", [])
        step = step_of(messages)
        if fault in HOSTILE:
            answer = self.answer(step, messages)
            return await hostile_reply(
                request, fault, answer, config.huge_bytes, config.redirect_to
            )
        text = "" if fault == "empty_content" else self.answer(step, messages)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if config.separate_reasoning and step == "reason" and "</think>" in text:
            thinking, _, rest = text.partition("</think>")
            message = {
                "role": "assistant",
                "content": rest.strip(),
                "reasoning_content": thinking.replace("<think>", "").strip(),
            }
        if fault == OK:
            self._answered(key)
        prompt_tokens = len(json.dumps(messages)) // 4
        completion_tokens = len(text) // 4
        return web.json_response(
            {
                "id": f"chatcmpl-double-{key[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )


async def _start_runner(server: DoubleServer, host: str, port: int) -> tuple[web.AppRunner, int]:
    # handler_cancellation: a client that gave up (timeout) ends its hanging handler, and
    # shutdown does not wait for it.
    runner = web.AppRunner(
        server.app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])


class OpenAIDouble:
    """The double in a background thread of this process (its own event loop)."""

    def __init__(
        self,
        config: DoubleConfig | None = None,
        answer: Answerer = default_answer,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.server = DoubleServer(config, answer)
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}/v1"

    def start(self) -> OpenAIDouble:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._runner, self._port = loop.run_until_complete(
                    _start_runner(self.server, self._host, self._port)
                )
            except BaseException as error:  # reported to start()
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="openai-double", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if failure:
            raise RuntimeError(f"the OpenAI double did not start: {failure[0]}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._thread = None

    def stats(self) -> dict[str, Any]:
        return self.server.stats()

    def configure(self, **changes: Any) -> None:
        self.server.configure(**changes)

    def reset(self) -> None:
        self.server.reset()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The last chat request bodies received (newest last)."""
        with self.server._lock:
            return list(self.server.bodies)

    def __enter__(self) -> OpenAIDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DoubleProcess:
    """The double as a child process (``python tests/doubles/openai_api.py``), with its control API.

    The key the double requires is handed over in the environment variable ``api_key_env``
    of the child, never on its command line.
    """

    def __init__(
        self,
        config: DoubleConfig | None = None,
        api_key_env: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        config = config or DoubleConfig()
        settings = dataclasses.asdict(config)
        settings.pop("api_key")
        command = [sys.executable, str(Path(__file__).resolve()), "--port", "0"]
        command += ["--config", json.dumps(settings)]
        if api_key_env is not None:
            command += ["--api-key-env", api_key_env]
        child_env = {**os.environ, **(env or {})}
        if config.api_key is not None and api_key_env is not None:
            child_env[api_key_env] = config.api_key
        # stderr goes to a file, not a pipe nobody reads, so a chatty child never blocks.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=child_env
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith(LISTENING):
            self.process.kill()
            self.process.wait(timeout=10)
            self._stderr.seek(0)
            raise RuntimeError(
                f"the OpenAI double process did not start: {line} {self._stderr.read()}"
            )
        self.url = line.split(" ", 1)[1]
        self._root = self.url.removesuffix("/v1")

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            self._root + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stats(self) -> dict[str, Any]:
        return self._call("/_stats")

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("/_config", changes)

    def reset(self) -> None:
        self._call("/_reset", {})

    def stop(self) -> None:
        # Imported here: this file also runs as the server's script, without tests/ on sys.path.
        from support.processes import stop_process

        stop_process(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> DoubleProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=None, help="seconds per answer")
    parser.add_argument("--fault-rate", type=float, default=None)
    parser.add_argument("--fault-kinds", default=None, help="comma-separated, e.g. 429,500")
    parser.add_argument("--api-key-env", default=None, help="env var holding the required key")
    parser.add_argument("--config", default=None, help="JSON of DoubleConfig fields")
    return parser.parse_args(argv)


def _config_from_args(args: argparse.Namespace) -> DoubleConfig:
    settings: dict[str, Any] = json.loads(args.config) if args.config else {}
    if args.latency is not None:
        settings["latency_s"] = args.latency
    if args.fault_rate is not None:
        settings["fault_rate"] = args.fault_rate
    if args.fault_kinds:
        settings["fault_kinds"] = args.fault_kinds.split(",")
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise SystemExit(f"--api-key-env {args.api_key_env}: the variable is not set")
        settings["api_key"] = key
    return DoubleConfig(**settings)


async def _serve_forever(server: DoubleServer, host: str, port: int) -> None:
    runner, bound = await _start_runner(server, host, port)
    print(f"{LISTENING} http://{host}:{bound}/v1", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    server = DoubleServer(_config_from_args(args))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(server, args.host, args.port))


if __name__ == "__main__":
    main()
