"""A stand-in for the nginx upstream when nginx is not installed (bench/smoke.py
only): the same fixed bodies on the same paths, HTTP/1.1 keep-alive, one asyncio
process. Much slower than nginx, so the figures it yields are for the smoke
report, never for the benchmark.

  python bench/upstream/pyserver.py --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

BODIES = Path(__file__).resolve().parent / "bodies"
ROUTES = [  # (path regex, body file, content type), as in nginx.conf.tmpl
    (r"^/healthz$", None, b"text/plain"),
    (r"^/json/v1/chat/completions$", "openai_chat.json", b"application/json"),
    (r"^/sse/v1/chat/completions$", "openai_chat.sse", b"text/event-stream"),
    (r"^/json/v1/messages$", "anthropic.json", b"application/json"),
    (r"^/sse/v1/messages$", "anthropic.sse", b"text/event-stream"),
    (r"^/(json|sse)/v1(beta)?/models/[^/]+:generateContent$", "gemini.json", b"application/json"),
    (r"^/(json|sse)/v1(beta)?/models/[^/]+:streamGenerateContent$", "gemini.sse", b"text/event-stream"),
]


def _answers() -> list[tuple[re.Pattern[bytes], bytes]]:
    out = []
    for pattern, filename, ctype in ROUTES:
        body = (BODIES / filename).read_bytes() if filename else b"ok"
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (ctype, len(body))
        out.append((re.compile(pattern.encode()), head + body))
    return out


ANSWERS = _answers()
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport subclass
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                key, _, value = line.partition(b":")
                if key.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            path = head.split(b" ", 2)[1].split(b"?", 1)[0]
            answer = next((a for rx, a in ANSWERS if rx.match(path)), NOT_FOUND)
            self.transport.write(answer)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, reuse_address=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
