"""Following changes other processes make: poll a cheap revision, react when it moves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("hubgate.access.watch")


async def watch_revision(
    read: Callable[[], Awaitable[object]],
    on_change: Callable[[], Awaitable[None] | None],
    interval_s: float,
    what: str,
) -> None:
    """Call `on_change` whenever `read()` returns something new (not on the first read)."""
    seen: object = None
    while True:
        try:
            revision = await read()
            if seen is not None and revision != seen:
                result = on_change()
                if result is not None:
                    await result
            seen = revision
        except Exception:
            log.warning("%s revision poll failed", what, exc_info=True)
        await asyncio.sleep(interval_s)
