"""Accounts as the hot path reads them: cached for a while, moved by what a usage flush
wrote, dropped when an admin moves their balance; the requests in flight share one read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from hubgate.access.steady import FlushMark, read_steady
from hubgate.storage.accounts import AccountRecord, AccountRepository

REFRESH_S = 1.0  # a record this old is read again behind the requests that use it


class AccountCache:
    """A record moves with this process's flushes; what other processes change (an admin's
    disable or group change on another worker, their spend) arrives by a read behind the
    requests, once the record is REFRESH_S old, or at once by `invalidate` here."""

    def __init__(self, repo: AccountRepository, ttl_s: float = 30.0, refresh_s: float = REFRESH_S) -> None:
        self._repo = repo
        self._ttl = ttl_s
        self._refresh = refresh_s
        self._entries: dict[int, tuple[AccountRecord, float, float]] = {}  # record, expires, stored
        self._reading: dict[int, asyncio.Future[AccountRecord | None]] = {}
        self._generation = 0
        self._flush = FlushMark()
        self.on_invalidate: Callable[[Iterable[int] | None], None] | None = None

    @property
    def repo(self) -> AccountRepository:
        return self._repo

    async def get(self, account_id: int) -> AccountRecord | None:
        hit = self._entries.get(account_id)
        if hit is not None:
            now = time.monotonic()
            if hit[1] > now:
                if now - hit[2] >= self._refresh and account_id not in self._reading:
                    self._start_read(account_id)  # not awaited: this request uses the record
                return hit[0]
        # A miss (expired, or an admin moved the balance): the requests in flight share one read.
        reading = self._reading.get(account_id) or self._start_read(account_id)
        return await asyncio.shield(reading)

    def _start_read(self, account_id: int) -> asyncio.Future[AccountRecord | None]:
        reading = self._reading[account_id] = asyncio.ensure_future(self._read(account_id))
        reading.add_done_callback(lambda done: self._read_done(account_id, done))
        return reading

    async def _read(self, account_id: int) -> AccountRecord | None:
        # A flush that landed while we read may have moved the balance: read again.
        record, steady = await read_steady(lambda: self._repo.by_id(account_id), lambda: self._generation)
        if record is not None and steady:
            now = time.monotonic()
            self._entries[account_id] = (record, now + self._ttl, now)
        return record

    def _read_done(self, account_id: int, done: asyncio.Future[AccountRecord | None]) -> None:
        if self._reading.get(account_id) is done:
            del self._reading[account_id]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone

    def flushing(self) -> None:
        """A usage flush is about to commit: a record stored from now on may already count it."""
        self._flush.begin()

    def spent(self, totals: dict[int, int]) -> None:
        """A usage flush took `totals` off these balances (committed): the cached records
        move by as much instead of being read again, which every request in flight waited
        for, after each flush. A record stored since the flush began (it may count the
        flush already), or a total of 0 (its change is not known here), is dropped.
        Reads in flight are read again, as after `invalidate`."""
        self._generation += 1
        entries, predates = self._entries, self._flush.predates
        for account_id, total in totals.items():
            hit = entries.get(account_id)
            if hit is None:
                continue
            record = hit[0]
            if total and predates(hit[2]):
                entries[account_id] = (
                    replace(record, balance_micros=record.balance_micros - total),
                    *hit[1:],
                )
            else:
                del entries[account_id]
        self._flush.end()
        # Not `on_invalidate`: the hold backends move or read again their own bases on a
        # flush (Billing.settle hands it to them).

    def invalidate(self, account_ids: Iterable[int] | None = None) -> None:
        self._generation += 1
        if account_ids is None:
            self._entries.clear()
        else:
            account_ids = list(account_ids)
            for account_id in account_ids:
                self._entries.pop(account_id, None)
        if self.on_invalidate is not None:
            self.on_invalidate(account_ids)
