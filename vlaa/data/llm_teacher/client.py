"""An async client for OpenAI-compatible ``/chat/completions`` with cache, limits and retries.

Per call: cache lookup first; on a miss, each attempt takes a concurrency slot (one
``asyncio.Semaphore`` per endpoint pool), a rate-limit token (one ``aiolimiter.AsyncLimiter``
per pool, a smooth rate with no burst), waits out any Retry-After pause of the pool, and POSTs
over the pool's one ``aiohttp.ClientSession``. Failed attempts are retried by tenacity with
exponential backoff and jitter on 429, 408, 409, 5xx, timeouts, connection errors and malformed
bodies; a 429's Retry-After (or ``retry-after-ms``) is honoured and pauses the whole pool, since
the limit it reports is the endpoint's. Other 4xx fail at once. Only successes are cached.

A pool is shared by the steps naming the same ``base_url`` and ``api_key_env``. Pools and the
session belong to the event loop of the first call: use one client within one loop, and
``aclose()`` it there.

The API key is read from the environment once, at construction (a missing variable is an error
naming the variable), sent only in the Authorization header, and scrubbed (``scrub.py``) from
every reply, error detail and log line before anything is cut or stored (a server may echo
what it was sent).

Hostile replies are bounded: redirects are never followed (aiohttp's ``allow_redirects=False``
returns the 3xx itself, which fails the call naming the Location host: following it would
re-send prompts, images and the key elsewhere); the body is read in chunks from
``response.content`` (aiohttp's flow-controlled ``StreamReader``, decompressing chunk by
chunk) and reading stops past the endpoint's ``max_response_bytes``, so memory per request is
bounded whatever the server sends. A reply that cannot be stored (a lone surrogate) is a drop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from yarl import URL

from vlaa.data.llm_teacher.bounded import ERROR_BODY_BYTES, read_capped, redirect_failure
from vlaa.data.llm_teacher.cache import (
    CachedResponse,
    ResponseCache,
    UnstorableReply,
    cache_key,
    input_hash,
)
from vlaa.data.llm_teacher.config import (
    TEACHER_STEPS,
    LLMTeacherConfig,
    TeacherEndpoint,
    TeacherStep,
)
from vlaa.data.llm_teacher.prompts import PROMPT_VERSIONS, Message
from vlaa.data.llm_teacher.scrub import Scrubber, shorten
from vlaa.data.llm_teacher.wire import (
    CONNECTION_ERROR,
    DETAIL_CHARS,
    RATE_LIMITED,
    TIMEOUT,
    UNSTORABLE,
    AttemptFailed,
    ChatResult,
    Reply,
    StepStats,
    TeacherCallError,
    TeacherConfigError,
    parse_completion,
    status_failure,
    wire_json,
)

logger = logging.getLogger(__name__)

# Waiting for another process's reply to a claimed key: first poll, longest pause between polls.
CLAIM_POLL_S = (0.02, 0.5)


def _api_key(endpoint: TeacherEndpoint, steps: Sequence[str]) -> str | None:
    if endpoint.api_key_env is None:
        return None
    key = os.environ.get(endpoint.api_key_env, "").strip()
    if not key:
        raise TeacherConfigError(
            f"the environment variable {endpoint.api_key_env} (api_key_env of the teacher "
            f"step(s) {', '.join(steps)} at {endpoint.base_url}) is not set or empty"
        )
    return key


class _EndpointPool:
    """What the steps sharing one endpoint share: session, semaphore, rate limiter, pause."""

    def __init__(self, endpoint: TeacherEndpoint, api_key: str | None) -> None:
        # Parsed once: aiohttp would parse a string URL on every request.
        self.url = URL(f"{endpoint.base_url}/chat/completions")
        self._max_concurrency = endpoint.max_concurrency
        self._api_key = api_key
        self.semaphore = asyncio.Semaphore(endpoint.max_concurrency)
        rpm = endpoint.requests_per_minute
        # Capacity 1 refilled every 60/rpm seconds: no window ever sees more than the rate.
        self.limiter = AsyncLimiter(1, 60.0 / rpm) if rpm else None
        self._paused_until = 0.0
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"_EndpointPool({self.url})"

    def session(self) -> aiohttp.ClientSession:
        # Created on first use so it binds to the running loop; no await in between, no race.
        if self._session is None:
            headers = {"Content-Type": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_concurrency, limit_per_host=0),
                headers=headers,
            )
        return self._session

    def pause(self, seconds: float) -> None:
        """Hold every request of this pool for ``seconds`` (a 429's Retry-After)."""
        until = asyncio.get_running_loop().time() + seconds
        self._paused_until = max(self._paused_until, until)

    async def wait_if_paused(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._paused_until - loop.time()) > 0:
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Backoff:
    """Exponential backoff with jitter; a Retry-After (capped) is a lower bound."""

    def __init__(self, endpoint: TeacherEndpoint) -> None:
        self._exponential = wait_exponential_jitter(
            multiplier=endpoint.backoff_initial_s,
            max=endpoint.backoff_max_s,
            jitter=endpoint.backoff_initial_s,
        )
        self._max_retry_after = endpoint.max_retry_after_s

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = self._exponential(retry_state)
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, AttemptFailed) and failure.retry_after is not None:
            wait = max(wait, min(failure.retry_after, self._max_retry_after))
        return float(wait)


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, AttemptFailed) and error.retryable


class ChatClient:
    """Chat completions for the teacher steps of one ``LLMTeacherConfig``."""

    def __init__(self, config: LLMTeacherConfig, cache: ResponseCache | None = None) -> None:
        self.config = config
        self.prompt_versions: dict[TeacherStep, str] = {
            step: config.prompt_version.get(step, PROMPT_VERSIONS[step]) for step in TEACHER_STEPS
        }
        self._endpoints = config.endpoints()
        steps_by_pool: dict[tuple[str, str | None], list[TeacherStep]] = {}
        for step, endpoint in self._endpoints.items():
            steps_by_pool.setdefault(endpoint.pool_key(), []).append(step)
        # Keys are read before anything is opened, so a missing variable fails fast.
        keys = {
            pool_key: _api_key(self._endpoints[steps[0]], steps)
            for pool_key, steps in steps_by_pool.items()
        }
        self._pools: dict[tuple[str, str | None], _EndpointPool] = {
            pool_key: _EndpointPool(self._endpoints[steps[0]], keys[pool_key])
            for pool_key, steps in steps_by_pool.items()
        }
        self._timeouts = {
            step: aiohttp.ClientTimeout(total=endpoint.timeout_s)
            for step, endpoint in self._endpoints.items()
        }
        self._backoffs = {step: _Backoff(ep) for step, ep in self._endpoints.items()}
        self._scrub = Scrubber(keys.values())
        self.cache = (
            cache
            if cache is not None
            else ResponseCache(config.cache_dir, rebuild=config.rebuild_cache)
        )
        self._stats = {step: StepStats() for step in TEACHER_STEPS}
        # Identical requests in flight at once (two records with the same reasoning to
        # rewrite) share one HTTP call: the cache only helps once the first one has returned.
        self._in_flight: dict[str, asyncio.Future[tuple[Reply, int]]] = {}

    def pool_count(self) -> int:
        """How many distinct endpoint pools (sessions, semaphores, limiters) there are."""
        return len(self._pools)

    def stats(self) -> dict[str, Any]:
        return {
            "steps": {step: stats.as_dict() for step, stats in self._stats.items()},
            "cache": self.cache.counters(),
        }

    def request_body(self, step: TeacherStep, messages: list[Message]) -> dict[str, Any]:
        """The JSON request of ``step`` (images still as ``InlineImage``)."""
        endpoint = self._endpoints[step]
        body: dict[str, Any] = {
            "model": endpoint.model,
            "messages": messages,
            "temperature": endpoint.temperature,
        }
        if endpoint.max_tokens is not None:
            body["max_tokens"] = endpoint.max_tokens
        body.update(endpoint.extra_body)
        return body

    async def complete(self, step: TeacherStep, messages: list[Message]) -> ChatResult:
        """One chat completion for ``step``: from the cache, or from the endpoint with retries.

        Raises ``TeacherCallError`` when the endpoint fails for good.
        """
        started = time.perf_counter()
        endpoint = self._endpoints[step]
        stats = self._stats[step]
        stats.calls += 1
        version = self.prompt_versions[step]
        body = self.request_body(step, messages)
        key = cache_key(
            endpoint.model,
            step,
            version,
            input_hash({k: v for k, v in body.items() if k != "model"}),
        )
        hit = self.cache.get(key)
        if hit is not None:
            stats.cache_hits += 1
            latency = time.perf_counter() - started
            stats.latency_s += latency
            return ChatResult(
                # Scrubbed again: a cache written before scrubbing existed may hold a key.
                text=self._scrub(hit.text),
                attempts=0,
                cached=True,
                latency_s=latency,
                usage=hit.usage,
                step=step,
                model=endpoint.model,
                prompt_version=version,
                reasoning=self._scrub(hit.reasoning) if hit.reasoning is not None else None,
            )

        shared = self._in_flight.get(key)
        if shared is not None:
            stats.cache_hits += 1
            reply, _ = await asyncio.shield(shared)
            attempts = 0
        else:
            reply, attempts = await self._post_once_per_key(step, key, body, version)
            stats.cache_hits += reply.cached
        latency = time.perf_counter() - started
        stats.latency_s += latency
        return ChatResult(
            text=reply.text,
            attempts=attempts,
            cached=reply.cached,
            latency_s=latency,
            usage=reply.usage,
            step=step,
            model=endpoint.model,
            prompt_version=version,
            wait_s=reply.wait_s,
            reasoning=reply.reasoning,
        )

    async def _post_once_per_key(
        self, step: TeacherStep, key: str, body: dict[str, Any], version: str
    ) -> tuple[Reply, int]:
        """POST ``body`` (retrying), cache the reply, and share it with identical requests
        that arrive meanwhile; a failure reaches them too. Another process sharing the cache
        may hold the key's claim: then its reply is awaited instead (``Reply.cached``)."""
        future: asyncio.Future[tuple[Reply, int]] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            endpoint = self._endpoints[step]
            # Worst case of the holder's attempts: each a timeout plus the longest pause.
            longest = max(endpoint.backoff_max_s, endpoint.max_retry_after_s)
            answered = await self._claim(
                key, endpoint.max_attempts * (endpoint.timeout_s + longest)
            )
            if answered is not None:
                reply = Reply(answered.text, answered.reasoning, answered.usage, 0.0, cached=True)
                attempts = 0
            else:
                try:
                    reply, attempts = await self._post_and_store(step, key, body, version)
                finally:
                    self.cache.claims.release(key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # marked retrieved: nobody else may be waiting
            raise
        else:
            future.set_result((reply, attempts))
            return reply, attempts
        finally:
            del self._in_flight[key]

    async def _claim(self, key: str, patience_s: float) -> CachedResponse | None:
        """Claim ``key`` for this client (None), or return the reply another process stored
        while it held the claim. Polls the cache at growing intervals while waiting; after
        ``patience_s`` (longer than the holder's own attempts may take, so the holder is
        stuck, e.g. a stopped process) it stops waiting and returns None to call itself."""
        pause, longest = CLAIM_POLL_S
        deadline = time.monotonic() + patience_s
        while True:
            if self.cache.claims.try_claim(key):
                # The holder may have stored the reply just before releasing the claim.
                stored = self.cache.get(key, count=False)
                if stored is not None:
                    self.cache.claims.release(key)
                return stored
            if time.monotonic() > deadline:
                logger.warning("teacher cache: key %s claimed for %.0fs; calling", key, patience_s)
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest)
            stored = self.cache.get(key, count=False)
            if stored is not None:
                return stored

    async def _post_and_store(
        self, step: TeacherStep, key: str, body: dict[str, Any], version: str
    ) -> tuple[Reply, int]:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=wire_json)
        reply, attempts = await self._post_with_retries(step, payload.encode("utf-8"))
        try:
            self.cache.put(
                key,
                step=step,
                model=self._endpoints[step].model,
                prompt_version=version,
                text=reply.text,
                reasoning=reply.reasoning,
                usage=reply.usage,
            )
        except UnstorableReply as error:
            self._stats[step].failures[UNSTORABLE] += 1
            raise TeacherCallError(UNSTORABLE, str(error), attempts, step) from None
        return reply, attempts

    async def _post_with_retries(self, step: TeacherStep, body: bytes) -> tuple[Reply, int]:
        endpoint = self._endpoints[step]
        pool = self._pools[endpoint.pool_key()]
        stats = self._stats[step]
        retrying = AsyncRetrying(
            stop=stop_after_attempt(endpoint.max_attempts),
            wait=self._backoffs[step],
            retry=retry_if_exception(_is_retryable),
            before_sleep=lambda state: self._log_retry(step, endpoint, state),
            reraise=True,
        )
        attempts = 0
        wait_s = 0.0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    stats.attempts += 1
                    try:
                        reply = await self._post_once(pool, step, body)
                    except AttemptFailed as failure:
                        wait_s += failure.wait_s
                        if failure.retryable and attempts < endpoint.max_attempts:
                            stats.retried[failure.reason] += 1
                        raise
                    return dataclasses.replace(reply, wait_s=wait_s + reply.wait_s), attempts
        except AttemptFailed as failure:
            stats.failures[failure.reason] += 1
            raise TeacherCallError(failure.reason, failure.detail, attempts, step) from None
        raise AssertionError("tenacity ended without a result or an error")  # pragma: no cover

    async def _post_once(self, pool: _EndpointPool, step: TeacherStep, body: bytes) -> Reply:
        queued = time.perf_counter()
        endpoint = self._endpoints[step]
        async with pool.semaphore:
            if pool.limiter is not None:
                await pool.limiter.acquire()
            await pool.wait_if_paused()
            wait_s = time.perf_counter() - queued
            try:
                async with pool.session().post(
                    pool.url, data=body, timeout=self._timeouts[step], allow_redirects=False
                ) as response:
                    status = response.status
                    headers = response.headers
                    if 300 <= status < 400:
                        raise redirect_failure(response, self._scrub)
                    cap = endpoint.max_response_bytes if status < 300 else ERROR_BODY_BYTES
                    raw = await read_capped(response, cap, whole=status < 300)
            except AttemptFailed as failure:
                failure.wait_s = wait_s
                raise
            except TimeoutError:
                failure = AttemptFailed(TIMEOUT, "no response within the timeout", True)
                failure.wait_s = wait_s
                raise failure from None
            except aiohttp.ClientError as error:
                detail = self._scrub(f"{type(error).__name__}: {error}")
                failure = AttemptFailed(CONNECTION_ERROR, shorten(detail, DETAIL_CHARS), True)
                failure.wait_s = wait_s
                raise failure from None
        try:
            if not 200 <= status < 300:
                raise status_failure(status, raw, headers, self._scrub)
            text, reasoning, usage = parse_completion(raw, self._scrub)
        except AttemptFailed as failure:
            failure.wait_s = wait_s
            if failure.reason == RATE_LIMITED and failure.retry_after:
                pool.pause(min(failure.retry_after, endpoint.max_retry_after_s))
            raise
        return Reply(text, reasoning, usage, wait_s)

    @staticmethod
    def _log_retry(step: str, endpoint: TeacherEndpoint, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        reason = getattr(failure, "reason", type(failure).__name__)
        detail = getattr(failure, "detail", "")
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "teacher %s (%s): attempt %d failed (%s: %s); retrying in %.2fs",
            step,
            endpoint.model,
            state.attempt_number,
            reason,
            detail[:DETAIL_CHARS],
            wait,
        )

    async def aclose(self) -> None:
        """Close every pool's session and the cache (its claims with it)."""
        for pool in self._pools.values():
            await pool.aclose()
        self.cache.close()
