"""Holds across processes: each process leases chunks of a balance or key budget, from
Redis when there is one (access/redis_holds.py), else from the database
(storage/leases.py), and holds requests against its lease in memory, so a request costs
a round trip only when its process's lease runs out.

Per subject the process keeps `lease` (what it was granted) and `out` (its open holds and
unflushed costs); a hold fits when `lease - out` covers it. One map, ref -> (subjects,
micros), says what each request holds: the same amount under each of its subjects. A flush that wrote costs
shrinks the lease by as much at once (the counters now carry them) and gives the same
amount back to the database soon after. A keeper task renews the leases (they expire
`hold_ttl_s` after the last renewal: a killed process's lease goes back to any replica
that reclaims it), returns leases idle for IDLE_S, and reclaims expired ones.

A small balance is not hoarded: when a lease could get less than a chunk (it took all
that was left), the subject is *scarce* here for IDLE_S: leases then take only what the
request needs, and whatever the holds do not use goes back as soon as they settle, so
another process can hold against it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from hubgate.access.holds import Flushed, RefBooks, Subject
from hubgate.errors import Unavailable

log = logging.getLogger("hubgate.holds")

IDLE_S = 2.0  # a lease nobody held against for this long goes back


class LeaseSource(Protocol):
    """Where leases come from: the database (storage/leases.LeaseStore) or Redis
    (redis_holds.RedisLeases). Amounts are keyed by (kind, subject id)."""

    async def take(self, subject: Subject, want: int, need: int, ttl_s: float) -> int: ...

    async def give_back(self, amounts: dict[tuple[str, int], int]) -> None: ...

    async def renew(self, ttl_s: float) -> dict[tuple[str, int], int]: ...

    async def release_all(self) -> None: ...

    async def reclaim_expired(self) -> int: ...

    async def changed(self, subject: Subject) -> None: ...


class LeaseHolds:
    shared = False

    def __init__(self, store: LeaseSource, chunk_micros: int, ttl_s: float) -> None:
        self._store = store
        self._chunk = max(1, chunk_micros)
        self._ttl = ttl_s
        self.leases: dict[str, int] = defaultdict(int)
        self._books = RefBooks()
        self.out = self._books.out  # per subject: open holds and unflushed costs
        self._ids: dict[str, tuple[str, int]] = {}
        self._used: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._give: dict[tuple[str, int], int] = defaultdict(int)
        self._scarce: dict[str, float] = {}  # subject name: lease exactly until then
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _room(self, name: str) -> int:
        return self.leases[name] - self.out[name]

    def place_now(self, ref: str, subjects: tuple[Subject, ...], micros: int) -> bool:
        leases, out = self.leases, self.out
        for s in subjects:  # admits(self._room(s.name), micros), inlined: once per request
            room = leases[s.name] - out[s.name]
            if room <= 0 or room < micros:
                return False
        self._put(ref, subjects, micros)
        return True

    async def place(
        self, ref: str, subjects: tuple[Subject, ...], micros: int, ttl_s: float
    ) -> Subject | None:
        if self.place_now(ref, subjects, micros):
            return None
        # Lease more, one lease at a time per subject in this process: a burst waits for the
        # lease in flight instead of each asking the database (locks in one order: no deadlock).
        async with contextlib.AsyncExitStack() as stack:
            for subject in sorted(subjects, key=lambda s: s.name):
                await stack.enter_async_context(self._locks[subject.name])
            for subject in subjects:
                missing = max(micros, 1) - self._room(subject.name)
                if missing > 0 and not await self._take(subject, missing):
                    return subject
            self._put(ref, subjects, micros)  # no await since the check: nobody took the room
            return None

    def _put(self, ref: str, subjects: tuple[Subject, ...], micros: int) -> None:
        now = time.monotonic()
        used = self._used
        for s in subjects:
            used[s.name] = now
        if micros:
            self._books.put(ref, subjects, micros)

    async def _take(self, subject: Subject, missing: int) -> bool:
        # Shielded: a caller that hangs up mid-lease must not lose what the database granted.
        return await asyncio.shield(asyncio.ensure_future(self._grant(subject, missing)))

    async def _grant(self, subject: Subject, missing: int) -> bool:
        try:
            scarce = self._is_scarce(subject.name)
            want = missing if scarce else max(self._chunk, missing)
            granted = await self._store.take(subject, want, missing, self._ttl)
        except SQLAlchemyError as exc:
            log.warning("hold lease for %s failed: %s", subject.name, exc)
            raise Unavailable("Budgets and balances cannot be checked right now; retry shortly.") from exc
        if granted:
            self.leases[subject.name] += granted
            self._ids[subject.name] = (subject.kind, subject.id)
            if scarce or granted < want:  # all that was left: lease exactly, give back at once
                self._scarce[subject.name] = time.monotonic() + IDLE_S
                self._wake.set()
        return granted > 0

    def _is_scarce(self, name: str) -> bool:
        until = self._scarce.get(name)
        if until is not None and until <= time.monotonic():
            del self._scarce[name]
            return False
        return until is not None

    def settle(self, ref: str, subjects: tuple[Subject, ...], micros: int, ttl_s: float) -> None:
        if self._scarce and any(s.name in self._scarce for s in subjects):
            self._wake.set()  # what the hold did not use goes back now
        self._books.put(ref, subjects, micros)

    def flushed(self, costs: list[Flushed]) -> None:
        leases, give = self.leases, self._give
        scarce = False
        for subjects, spent in self._books.take(cost.ref for cost in costs):
            for s in subjects:
                name = s.name
                # The counters carry it now: the lease shrinks at once (row by row it would
                # shrink by the same total, down to 0), the database soon.
                lease = leases[name]
                given = spent if spent < lease else lease
                if given:
                    leases[name] = lease - given
                    give[s.kind, s.id] += given
                    if self._scarce and name in self._scarce:
                        scarce = True
        # What the counters now carry goes back at the keeper's next round (within a second):
        # waking it for every flush doubled the lease statements. A scarce subject, which
        # other processes may be waiting for, still goes back at once.
        if scarce:
            self._wake.set()

    async def changed(self, subject: Subject) -> None:
        await self._store.changed(subject)  # granted leases stand, like any hold

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name="hold-leases")

    async def _keep(self) -> None:
        interval = max(0.05, min(1.0, self._ttl / 3))
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            try:
                await self.tend()
            except Exception:
                log.exception("hold leases: upkeep failed; retrying")

    async def tend(self) -> None:
        """Give back what flushes spent and idle leases, renew the rest, reclaim the dead's."""
        now = time.monotonic()
        for name, lease in list(self.leases.items()):
            idle = now - self._used.get(name, 0.0) > IDLE_S or self._is_scarce(name)
            spare = lease - self.out[name] if idle else lease - self.out[name] - self._chunk
            if spare > 0 and name in self._ids:
                async with self._locks[name]:
                    spare = min(spare, self._room(name))
                    if spare > 0:
                        self.leases[name] -= spare
                        self._give[self._ids[name]] += spare
        if self._give:
            give, self._give = dict(self._give), defaultdict(int)
            try:
                await self._store.give_back(give)
            except Exception:
                for subject, amount in give.items():
                    self._give[subject] += amount
                raise
        granted = await self._store.renew(self._ttl)
        for name, ident in list(self._ids.items()):
            if ident not in granted and self.leases[name] > 0:
                log.warning("hold lease %s expired before renewal; leasing again", name)
                self.leases[name] = 0  # reclaimed while this process stalled: lease again
        await self._store.reclaim_expired()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for attempt in range(3):  # two workers stopping together may meet each other's lock
            try:
                await self._store.release_all()
                break
            except Exception as exc:
                if attempt == 2:  # left to expire: another process reclaims it after hold_ttl_s
                    log.warning("hold leases: giving them back at stop failed (%s); they expire", exc)
                else:
                    await asyncio.sleep(0.2 * (attempt + 1))
        self.leases.clear()
        self._give.clear()
