"""Faulty Pushgateways as real loopback socket servers: a black hole and a drip.

``black_hole_gateway`` accepts every connection (a real ``accept``), reads the request and
never answers. ``drip_gateway`` reads the request and then answers a valid ``200 OK`` one byte
per ``interval`` seconds: every single socket read of the client succeeds quickly, so only a
total deadline stops it (the fault that made one push take 37 s). Both yield the gateway URL.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _read_request(conn: socket.socket) -> None:
    """Read until the end of the request body (headers, then Content-Length bytes)."""
    conn.settimeout(5)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk


@contextlib.contextmanager
def _gateway(serve: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    stop = threading.Event()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    connections: list[socket.socket] = []

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connections.append(conn)
            threading.Thread(target=serve, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in connections:
            conn.close()


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    _read_request(conn)
    stop.wait()  # holds the connection open, answers nothing


@contextlib.contextmanager
def black_hole_gateway() -> Iterator[str]:
    with _gateway(_silent) as url:
        yield url


@contextlib.contextmanager
def drip_gateway(interval: float = 1.0) -> Iterator[str]:
    def drip(conn: socket.socket, stop: threading.Event) -> None:
        _read_request(conn)
        for byte in ANSWER:
            if stop.wait(interval):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:  # the client gave up
                return

    with _gateway(drip) as url:
        yield url


def elapsed(action: Callable[[], object]) -> tuple[float, object]:
    """Seconds ``action`` took, and what it returned."""
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result
