"""The c=1 time-to-first-byte probe: sequential requests on one keep-alive socket, timed to
the first body byte and to the end of the answer (a Python client: compare targets with
it, not absolutes). Standard library only."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from harness import Scenario


def _read_headers(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def header_value(head: bytes, name: bytes) -> bytes | None:
    """One header's value from a raw head (status or request line first), by exact name."""
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def _read_rest(sock: socket.socket, head: bytes, rest: bytes) -> bytes:
    """Drain the body (content-length or chunked); return what is left past it."""
    length = header_value(head, b"content-length")
    if length is not None:
        size = int(length)
        while len(rest) < size:
            rest += _recv(sock)
        return rest[size:]
    # chunked: parse chunk by chunk until the zero chunk and its blank line
    while True:
        while b"\r\n" not in rest:
            rest += _recv(sock)
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            rest += _recv(sock)
        rest = rest[size + 2 :]
        if size == 0:
            return rest


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("closed mid-body")
    return chunk


def ttfb_c1(base_url: str, sc: Scenario, duration_s: float, max_requests: int = 20000) -> dict[str, Any]:
    """Sequential requests on one keep-alive connection: time to the first body byte
    and to the end of the answer, in ms (a Python client: compare targets, not absolutes)."""
    host_port = base_url.removeprefix("http://").split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    payload = json.dumps(sc.body).encode()
    head_lines = [
        f"POST {sc.path} HTTP/1.1",
        f"Host: {host_port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *[f"{k}: {v}" for k, v in sc.headers.items()],
    ]
    request = ("\r\n".join(head_lines) + "\r\n\r\n").encode() + payload
    ttfb: list[float] = []
    total: list[float] = []
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    leftover = b""
    deadline = time.perf_counter() + duration_s
    try:
        while time.perf_counter() < deadline and len(ttfb) < max_requests:
            t0 = time.perf_counter()
            sock.sendall(request)
            head, rest = _read_headers(sock, leftover)
            while not rest:  # the first byte of the body (headers may come first)
                rest = _recv(sock)
            t1 = time.perf_counter()
            if not head.startswith(b"HTTP/1.1 200"):
                status_line = head.split(b"\r\n", 1)[0]
                raise RuntimeError(f"TTFB probe got {status_line!r}")
            leftover = _read_rest(sock, head, rest)
            t2 = time.perf_counter()
            ttfb.append((t1 - t0) * 1000)
            total.append((t2 - t0) * 1000)
    finally:
        sock.close()
    return {"requests": len(ttfb), "ttfb_ms": percentiles(ttfb), "total_ms": percentiles(total)}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    s = sorted(values)

    def at(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "mean": sum(s) / len(s)}
