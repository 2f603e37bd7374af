"""Pushing a run's metrics to a Pushgateway: a total deadline per push, off the training thread.

prometheus_client's own transport (``exposition.default_handler``) hands ``timeout`` to
``urllib``, where it bounds each socket operation, not the request: a gateway that drips one
byte a second keeps a push alive for as long as it likes. :func:`deadline_handler` keeps the
push protocol of ``push_to_gateway`` (URL, method, headers, body) and replaces only that
transport: one ``http.client`` request whose socket is shut down when the deadline passes, so
a slow push fails (and is counted and logged as failing) instead of succeeding late.

:class:`BackgroundPusher` takes pushes off the training thread: ``submit`` snapshots the
registry and queues it (bounded; when full the oldest snapshot is dropped and counted, since
each push replaces the whole group and only the newest matters), and one daemon thread sends
them. Failures are counted and warned about, never raised.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import push_to_gateway
from prometheus_client.metrics_core import Metric

from vlaa.observability.prometheus import PUSH_JOB, TrainingMetrics
from vlaa.observability.settings import redact_url

log = logging.getLogger(__name__)

Handler = Callable[..., Callable[[], None]]


class PushDeadlineExceeded(TimeoutError):
    """A push did not finish within its total deadline."""


def deadline_handler(
    deadline_s: float, username: str | None = None, password: str | None = None
) -> Handler:
    """A ``push_to_gateway`` handler that fails any push not done within ``deadline_s``.

    The handler signature is prometheus_client's (``exposition._use_gateway`` calls
    ``handler(url, method, timeout, headers, data)()``); ``timeout`` is ignored for the deadline.
    """

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        extra = dict(headers)
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            extra["Authorization"] = f"Basic {token}"
        return lambda: _request(url, method, extra, data, deadline_s)

    return handler


def _request(url: str, method: str, headers: dict[str, str], data: bytes, deadline: float) -> None:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    connection_class = http.client.HTTPSConnection if secure else http.client.HTTPConnection
    # The socket timeout bounds connecting; the timer bounds everything after.
    connection = connection_class(parts.hostname or "", parts.port, timeout=deadline)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:  # wakes a blocked recv/send at once
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(deadline, expire)
    timer.daemon = True
    timer.start()
    try:
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set() or isinstance(error, TimeoutError):
            raise PushDeadlineExceeded(
                f"push not finished within its {deadline:g} s deadline"
            ) from error
        raise
    finally:
        timer.cancel()
        connection.close()
    if response.status >= 400:  # as prometheus_client's default handler reports it
        raise OSError(f"error talking to pushgateway: {response.status} {response.reason}")


class Snapshot:
    """The metric families of a registry at one moment, as a collector ``push_to_gateway``
    can send later (``generate_latest`` only calls ``collect``)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> list[Metric]:
        return self.families


class Pusher:
    """Pushes a run's registry (or a snapshot of it) once per call, within a total deadline.

    Failures are counted and warned about, never raised. Warnings are rate-limited (the first
    failure, then every ``warn_every``-th) so a gateway that is down for a long run does not
    flood the training log.
    """

    def __init__(
        self,
        url: str,
        metrics: TrainingMetrics,
        timeout: float = 2.0,
        warn_every: int = 20,
        push: Callable[..., None] = push_to_gateway,
    ) -> None:
        self.url, username, password = _split_credentials(url)
        self._handler = deadline_handler(timeout, username, password)
        self.metrics = metrics
        self.timeout = timeout
        self.warn_every = warn_every
        self.failures = 0
        self.successes = 0
        self._push = push
        self._failing = False
        self._lock = threading.Lock()  # one push at a time, whichever thread calls

    def push(self, snapshot: Snapshot | None = None) -> bool:
        """Push ``snapshot`` (default: the registry as it is now); True on success."""
        with self._lock:
            try:
                self._push(
                    self.url,
                    job=PUSH_JOB,
                    registry=snapshot if snapshot is not None else self.metrics.registry,
                    grouping_key=self.metrics.labels,
                    timeout=self.timeout,
                    handler=self._handler,
                )
            except Exception as error:  # metrics must never stop training
                self._record_failure(error)
                return False
            self.successes += 1
            if self._failing:
                log.info(
                    "metrics push to %s works again after %d failures",
                    redact_url(self.url),
                    self.failures,
                )
                self._failing = False
            return True

    def _record_failure(self, error: Exception) -> None:
        self.failures += 1
        self._failing = True
        with contextlib.suppress(Exception):  # counting must not raise either
            self.metrics.push_failures.labels(**self.metrics.labels).inc()
        if self.failures == 1 or self.failures % self.warn_every == 0:
            log.warning(
                "metrics push to %s failed (%d failures so far; training goes on): %s: %s",
                redact_url(self.url),
                self.failures,
                type(error).__name__,
                str(error).replace(self.url, redact_url(self.url)),
            )


class BackgroundPusher:
    """Sends a :class:`Pusher`'s pushes from a daemon thread; ``submit`` never blocks."""

    def __init__(self, pusher: Pusher, queue_size: int = 4) -> None:
        self.pusher = pusher
        self.queue_size = max(1, queue_size)
        self.dropped = 0
        self._queue: deque[Snapshot] = deque()
        self._busy = False
        self._closed = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self) -> None:
        """Queue a snapshot of the registry as it is now (dropping the oldest when full)."""
        snapshot = Snapshot(self.pusher.metrics.registry.collect())
        with self._changed:
            if self._closed:
                return
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self._count_drop()
            self._queue.append(snapshot)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="vlaa-metrics-push", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every queued push was sent (or failed)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self, timeout: float) -> bool:
        """Flush for at most ``timeout`` seconds, then stop; what is still queued is dropped."""
        done = self.flush(timeout)
        with self._changed:
            self._closed = True
            left = len(self._queue)
            self._queue.clear()
            self._changed.notify_all()
        for _ in range(left):
            self._count_drop()
        if not done:
            log.warning(
                "metrics push to %s still unfinished after %.1f s at the end of training; "
                "giving up on %d queued push(es)",
                redact_url(self.pusher.url),
                timeout,
                left,
            )
        return done

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                snapshot = self._queue.popleft()
                self._busy = True
            try:
                self.pusher.push(snapshot)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _count_drop(self) -> None:
        self.dropped += 1
        metrics = self.pusher.metrics
        with contextlib.suppress(Exception):
            metrics.push_dropped.labels(**metrics.labels).inc()


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Split ``user:password@`` off a gateway URL: (clean URL, user, password)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.username is None:
        return url, None, None
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(parts.username), unquote(parts.password or "")
