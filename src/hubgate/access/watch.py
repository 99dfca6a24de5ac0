"""Following changes other processes make: poll cheap revisions, react when one moves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence

log = logging.getLogger("hubgate.access.watch")

OnChange = Callable[[], Awaitable[None] | None]
ReadRevisions = Callable[[Sequence[str]], Awaitable[Mapping[str, object]]]


class RevisionWatch:
    """Several tables' revisions followed by one poll (`read` takes the names and returns
    each one's revision; storage/revisions.py reads them all in one statement).

    `baseline` reads the revisions before the copies they guard are loaded; a handler runs
    whenever its name's revision differs from the last one seen, so a change that lands
    between that read and the load costs one extra reload, never a missed one. A name with
    no baseline takes its first read as one. A handler that fails is retried at the next
    poll (its revision is not taken as seen) and holds up no other; a failed read is
    logged and retried. Handlers run one after another, in the order followed."""

    def __init__(self, read: ReadRevisions, interval_s: float, names: Collection[str]) -> None:
        self._read = read
        self._interval_s = interval_s
        self._known = frozenset(names)
        self._handlers: dict[str, tuple[OnChange, str]] = {}
        self._seen: dict[str, object] = {}

    async def baseline(self) -> None:
        """Take every known name's current revision as seen (before the loads)."""
        try:
            self._seen.update(await self._read(tuple(sorted(self._known))))
        except Exception:  # each name then takes its first poll as its baseline
            log.warning("revision baseline read failed", exc_info=True)

    def follow(self, name: str, on_change: OnChange, what: str | None = None) -> None:
        """Call `on_change` when `name`'s revision moves from the one seen last."""
        if name not in self._known:
            raise ValueError(f"no revision is read for {name!r}")
        self._handlers[name] = (on_change, what or name)

    async def poll(self) -> None:
        """One read of every followed revision, and the handlers of those that moved."""
        names = tuple(self._handlers)
        if not names:
            return
        try:
            revisions = await self._read(names)
        except Exception:
            log.warning("revision poll failed (%s)", ", ".join(names), exc_info=True)
            return
        for name in names:
            revision = revisions.get(name)
            seen = self._seen.get(name)
            if seen is not None and revision != seen:
                on_change, what = self._handlers[name]
                try:
                    result = on_change()
                    if result is not None:
                        await result
                except Exception:
                    log.warning("%s changed, but reloading failed; retrying", what, exc_info=True)
                    continue
            self._seen[name] = revision

    async def run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self._interval_s)
