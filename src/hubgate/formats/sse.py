"""Server-sent events framing: split a byte stream into whole events."""

from __future__ import annotations

from hubgate.formats.hub import SSEEvent


class EventSplitter:
    """Feed arbitrary network chunks, get back complete events (each ending in a blank line).

    Events are kept byte for byte, except that CRLF line ends are normalised to LF,
    which every SSE client accepts.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        whole = self.feed_whole(chunk)
        return self.split(whole) if whole else []

    def feed_whole(self, chunk: bytes) -> bytes:
        """Like `feed`, but the complete events as they stand, one bytes (b"" for none)."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        buf = self._buf + chunk if self._buf else chunk
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return b""
        self._buf = buf[end + 2 :]
        return buf[: end + 2]

    @staticmethod
    def split(whole: bytes) -> list[bytes]:
        """Complete events (what `feed_whole` returns) one by one, each with its blank line."""
        if whole.count(b"\n\n") == 1:
            return [whole]
        return [e + b"\n\n" for e in whole[:-2].split(b"\n\n")]

    def flush(self) -> bytes:
        """Whatever trailing bytes never got their blank line (a truncated stream)."""
        rest, self._buf = self._buf, b""
        return rest


def parse_event(raw: bytes) -> SSEEvent | None:
    """One framed event -> its `event:` name and joined `data:` lines (None for a
    comment-only or empty event)."""
    name: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            name = line[6:].strip()
    if not data:
        return None
    return SSEEvent(event=name, data="\n".join(data))
