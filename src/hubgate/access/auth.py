"""Caller authentication: credential extraction and the in-process key cache."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from hubgate.access.steady import FlushMark, read_steady
from hubgate.errors import AuthenticationFailed
from hubgate.storage.keys import KeyRecord, KeyRepository, hash_key, utcnow

log = logging.getLogger("hubgate.access.auth")


def extract_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The caller's key from any of the places the official SDKs put it."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or query.get("key") or None


class KeyCache:
    """Serves key lookups from memory; the database is asked once per key per TTL.

    Unknown keys are cached too (briefly, and bounded) so a client hammering with a
    bad key cannot turn into one database query per request. The process's revision
    watch (access/watch.py, wired in app.py) calls `invalidate` when any process changes
    the keys table, so a revoke through the CLI or another replica takes effect within
    about a second.
    """

    def __init__(
        self,
        repo: KeyRepository,
        *,
        ttl_s: float = 30.0,
        negative_ttl_s: float = 5.0,
        max_entries: int = 100_000,
    ) -> None:
        self._repo = repo
        self._ttl = ttl_s
        self._negative_ttl = min(negative_ttl_s, ttl_s)
        self._max_entries = max_entries
        self._entries: dict[str, tuple[KeyRecord | None, float, float]] = {}  # record, expires, stored
        self._inflight: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self._digest_by_id: dict[int, str] = {}
        self._generation = 0  # bumped by every invalidation; stale loads are not cached
        self._flush = FlushMark()

    async def lookup(self, secret: str) -> KeyRecord | None:
        digest = hash_key(secret)
        hit = self._entries.get(digest)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            record = hit[0]
        else:
            record = await self._load(digest)
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            return None
        return record

    async def _load(self, digest: str) -> KeyRecord | None:
        # Concurrent misses for one key share a single query.
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[KeyRecord | None] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = fut
        try:
            record, steady = await read_steady(lambda: self._repo.by_hash(digest), lambda: self._generation)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters, if any, re-raise it themselves
            raise
        finally:
            self._inflight.pop(digest, None)
        fut.set_result(record)
        if not steady:
            return record  # the keys kept changing while we read: use it once, don't keep it
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
            self._digest_by_id.clear()
        ttl = self._ttl if record is not None else self._negative_ttl
        stored = time.monotonic()
        self._entries[digest] = (record, stored + ttl, stored)
        if record is not None:
            self._digest_by_id[record.id] = digest
        return record

    def invalidate(self, secret_hash: str | None = None) -> None:
        self._generation += 1
        if secret_hash is None:
            self._entries.clear()
            self._digest_by_id.clear()
        else:
            self._entries.pop(secret_hash, None)

    def flushing(self) -> None:
        """A usage flush is about to commit: a record stored from now on may already count it."""
        self._flush.begin()

    def spent(self, totals: dict[int, int]) -> None:
        """A usage flush added `totals` to these keys' spend (committed): the cached records
        move by as much, as the flush's UPDATE moved them, instead of being read again on
        the next request. A key with a budget period (whose spend the UPDATE may restart),
        a record stored since the flush began (it may count the flush already) or a total
        of 0 (not known here) is dropped and read again."""
        predates = self._flush.predates
        if not totals:
            self._flush.end()
            return
        self._generation += 1
        entries, by_id = self._entries, self._digest_by_id
        for key_id, total in totals.items():
            digest = by_id.get(key_id)
            if digest is None:
                continue
            hit = entries.get(digest)
            if hit is None:
                continue
            record = hit[0]
            if record is None or not total or record.budget_period is not None or not predates(hit[2]):
                del entries[digest]
                del by_id[key_id]
                continue
            moved = replace(
                record,
                spent_micros=record.spent_micros + total,
                period_spent_micros=record.period_spent_micros + total,
                period_started_at=None,
            )
            entries[digest] = (moved, *hit[1:])
        self._flush.end()

    async def authenticate(self, secret: str | None, now: datetime | None = None) -> KeyRecord:
        if not secret:
            raise AuthenticationFailed(
                "Missing API key. Pass it as 'Authorization: Bearer KEY', 'x-api-key', "
                "'x-goog-api-key' or '?key='."
            )
        record = await self.lookup(secret)
        if record is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        refusal = record.refusal(now or utcnow())
        if refusal is not None:
            raise AuthenticationFailed(refusal)
        return record
