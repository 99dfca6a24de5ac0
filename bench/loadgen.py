"""A small closed-loop HTTP/1.1 load generator in asyncio, for bench/smoke.py when
wrk is not installed: `connections` keep-alive connections, each sending the next
request when the previous answer is complete, for `duration_s` seconds.

It costs far more CPU per request than wrk and shares the cores with the target,
so its figures are a smoke report only. Returns the same keys as harness.run_wrk.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ttfb import header_value


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """Read one response; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = header_value(head, b"content-length")
    if length is not None:
        await reader.readexactly(int(length))
        return status
    while True:  # chunked
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return status


async def _worker(host: str, port: int, request: bytes, until: float, out: dict[str, Any]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(request)
            status = await _read_answer(reader)
            out["latencies"].append(time.perf_counter() - t0)
            if status >= 400:
                out["status_errors"] += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        out["read_errors"] += 1
    finally:
        writer.close()


async def _run(
    url: str, body: bytes, headers: dict[str, str], connections: int, duration_s: float
) -> dict[str, Any]:
    rest = url.removeprefix("http://")
    host_port, _, path = rest.partition("/")
    host, port = host_port.rsplit(":", 1)
    lines = [f"POST /{path} HTTP/1.1", f"Host: {host_port}", "Content-Type: application/json"]
    lines += [f"Content-Length: {len(body)}", *[f"{k}: {v}" for k, v in headers.items()]]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    out: dict[str, Any] = {"latencies": [], "status_errors": 0, "read_errors": 0}
    start = time.perf_counter()
    until = start + duration_s
    await asyncio.gather(*(_worker(host, int(port), request, until, out) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    lat = sorted(out["latencies"])

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0

    return {
        "requests": len(lat),
        "rps": (len(lat) - out["status_errors"]) / elapsed if elapsed else 0.0,
        "error_count": out["status_errors"] + out["read_errors"],
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)},
    }


def run(
    url: str, body: bytes, headers: dict[str, str], connections: int, duration_s: float
) -> dict[str, Any]:
    return asyncio.run(_run(url, body, headers, connections, duration_s))
