"""Pre-authorization holds: a request's maximum cost is held against its key's budget and
its account's balance before it goes upstream, settled to the actual cost when it ends.

A *subject* is one limit: an account's balance (`a`) or a key's budget (`k`). Per subject
a book keeps `out`: the open holds plus the costs settled but not yet written by a usage
flush, each entry under its ref (the request id, a video task id). A hold is placed only
if `base - out` covers it, where `base` is what the database says is left (the balance;
the budget minus the spend that counts). A flush moves costs into the database, then
removes their entries from the book and bumps the subject's generation: a `base` read
before that bump is stale and read again, so a cost is never counted neither in `base`
nor in `out` (it may briefly be counted in both, which only refuses early). A base cached
at the generation before the bump moves by the flushed costs instead, as the database
did (`BaseCache.moved`), unless that move is not known here.

Two backends share this contract: `LocalHolds` (one process: the book in memory) and
`LeaseHolds` (replicas and workers: each process leases chunks of a balance or budget,
from Redis (redis_holds.py) or from the database (storage/leases.py), and keeps its book
in memory against its lease, leases.py). Holds left by a crashed process expire
(`hold_ttl_s`): its leases are not renewed.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hubgate.access.steady import FlushMark

ACCOUNT = "a"
KEY = "k"
OK, REFUSED, STALE = "ok", "refused", "stale"


@dataclass(frozen=True, slots=True)
class Subject:
    """One limit a hold is placed against. `limit` is a key's budget (None for accounts),
    `period` its budget period (None: for life)."""

    kind: str
    id: int
    limit: int | None = None
    period: str | None = None
    name: str = field(init=False, compare=False, repr=False)  # "a:12": the book's key, made once

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", book_name(self.kind, self.id))


def book_name(kind: str, ident: int) -> str:
    """A subject's book name ("a:12"), without making the Subject."""
    return f"{kind}:{ident}"


@dataclass(slots=True)  # not frozen: one is made per charged row (a frozen __init__ costs 4x)
class Flushed:
    """A cost the usage writer committed: its ref and the subjects it may be held under."""

    ref: str
    subjects: tuple[str, ...]  # Subject.name of each
    micros: int
    landed: bool = True  # False: quarantined, so its cost moved no counter


class HoldBackend(Protocol):
    shared: bool  # the books are seen by every replica

    async def place(
        self, ref: str, subjects: tuple[Subject, ...], micros: int, ttl_s: float
    ) -> Subject | None:
        """Hold `micros` under `ref` against every subject, all or none; the refusing subject, or None."""

    def place_now(self, ref: str, subjects: tuple[Subject, ...], micros: int) -> bool:
        """Hold `micros` under `ref` if this process's books can, without waiting (the
        common case: a cached base, a lease with room); False leaves nothing held, and
        `place` decides (reading or leasing what it must, or refusing)."""

    def settle(self, ref: str, subjects: tuple[Subject, ...], micros: int, ttl_s: float) -> None:
        """The work under `ref` cost `micros` (0: release it); counted until `flushed`."""

    def flushed(self, costs: list[Flushed]) -> None:
        """These costs are in the database now: their entries leave the books."""

    async def changed(self, subject: Subject) -> None:
        """The subject's base moved outside a flush (an admin credit or debit)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


# What the database says of a subject, before anything in flight: an account's balance,
# a key's counted spend.
ReadBase = Callable[[Subject], Awaitable[int]]


@dataclass
class _Base:
    value: int
    gen: int
    expires: float
    # How a flush of `delta` micro-dollars moves it: -1 an account's balance, +1 a key's
    # spend; 0 when it cannot be told here (a key's budget period may restart in the flush).
    sign: int = 0
    stored: float = 0.0  # when it was read (time.monotonic)
    period: str | None = None  # a key's budget period when it was read


class BaseCache:
    """Bases read from the database, each with the book's generation seen before the read.
    One read per subject and generation at a time: after a flush bumps a book's generation,
    the requests in flight that find it stale share one read instead of one each."""

    def __init__(self, read: ReadBase, ttl_s: float) -> None:
        self._read = read
        self._ttl = ttl_s
        self._entries: dict[str, _Base] = {}
        self._reading: dict[tuple[str, int], asyncio.Future[None]] = {}
        self._drops = 0  # a read that saw this change is not kept: it may predate the drop
        self._flush = FlushMark()

    def need(self, subject: Subject) -> tuple[int, int]:
        """(base, generation) to present to the book; generation -1 when none is cached.
        Keys cache their counted spend, so a budget changed since is applied at once."""
        hit = self._entries.get(subject.name)
        if hit is None or hit.expires <= time.monotonic() or hit.period != subject.period:
            return 0, -1  # a key whose period changed counts other spend: read it again
        return (hit.value if subject.limit is None else subject.limit - hit.value), hit.gen

    async def refresh(self, subject: Subject, gen: int) -> None:
        """Read the base again; the book was at `gen` before this read began. A read of the
        same subject begun at the same generation is joined (shielded: a caller that hangs
        up does not cancel it for the others)."""
        key = (subject.name, gen)
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(self._refresh(subject, gen))
            reading.add_done_callback(lambda done: self._read_done(key, done))
        await asyncio.shield(reading)

    async def _refresh(self, subject: Subject, gen: int) -> None:
        drops = self._drops
        value = await self._read(subject)
        if drops != self._drops:  # an admin change dropped bases meanwhile: read again
            return
        sign = -1 if subject.kind == ACCOUNT else 0 if subject.period is not None else 1
        now = time.monotonic()
        self._entries[subject.name] = _Base(value, gen, now + self._ttl, sign, now, subject.period)

    def _read_done(self, key: tuple[str, int], done: asyncio.Future[None]) -> None:
        if self._reading.get(key) is done:
            del self._reading[key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone

    def flushing(self) -> None:
        """A usage flush is about to commit: a base read from now on may already count it."""
        self._flush.begin()

    def moved(self, name: str, gen: int, micros: int, new_gen: int) -> bool:
        """A flush wrote `micros` of costs under the subject: its base as read at `gen` moves
        by as much, as the database did, and stands for `new_gen`; False (nothing moved)
        when no such base is cached, its move is not known here, or it was read since the
        flush began (it may count the flush already)."""
        hit = self._entries.get(name)
        if hit is None or hit.gen != gen or not hit.sign or not self._flush.predates(hit.stored):
            return False
        hit.value += hit.sign * micros
        hit.gen = new_gen
        return True

    def flushed(self) -> None:
        """The flush `flushing` announced is settled."""
        self._flush.end()

    def drop(self, names: Iterable[str]) -> None:
        self._drops += 1
        for name in names:
            self._entries.pop(name, None)

    def clear(self) -> None:
        self._drops += 1
        self._entries.clear()


class RefBooks:
    """The books of every subject at once: what each ref holds (the same micros under each
    of its subjects, one map entry per ref) and each subject's total `out` (open holds and
    unflushed costs). Placing, settling and releasing touch one entry and the totals."""

    def __init__(self) -> None:
        self.out: dict[str, int] = defaultdict(int)
        self.held: dict[str, tuple[tuple[Subject, ...], int]] = {}

    def put(self, ref: str, subjects: tuple[Subject, ...], micros: int) -> None:
        """`ref` holds `micros` now (0: nothing) under `subjects`."""
        out, held = self.out, self.held
        before = held.get(ref)
        if before is not None:
            if before[0] is subjects:  # settled under what it was held under: one pass
                delta = micros - before[1]
                for s in subjects:
                    out[s.name] += delta
                if micros:
                    held[ref] = (subjects, micros)
                else:
                    del held[ref]
                return
            self.pop(ref)
        if micros:
            held[ref] = (subjects, micros)
            for s in subjects:
                out[s.name] += micros

    def take(self, refs: Iterable[str]) -> list[tuple[tuple[Subject, ...], int]]:
        """Take these refs out of the books (those held); what they held, summed per
        subjects tuple (a batch's rows share a few: one pass per tuple, not per row)."""
        held = self.held
        totals: dict[int, list[Any]] = {}  # id(subjects) -> [subjects, micros]
        for ref in refs:
            entry = held.pop(ref, None)
            if entry is None:
                continue
            total = totals.get(id(entry[0]))
            if total is None:
                totals[id(entry[0])] = [entry[0], entry[1]]
            else:
                total[1] += entry[1]
        out = self.out
        for subjects, micros in totals.values():
            for s in subjects:
                out[s.name] -= micros
        return [(subjects, micros) for subjects, micros in totals.values()]

    def pop(self, ref: str) -> tuple[tuple[Subject, ...], int] | None:
        """Take `ref` out of the books; what it held, or None."""
        entry = self.held.pop(ref, None)
        if entry is not None:
            out, micros = self.out, entry[1]
            for s in entry[0]:
                out[s.name] -= micros
        return entry


def admits(available: int, micros: int) -> bool:
    """Whether `available` covers a hold of `micros` (an unpriced request, 0, needs something left)."""
    return available > 0 and available >= micros


class SharedBooks:
    """The place loop of the book backends: present cached bases, read again what is stale."""

    def __init__(self, bases: BaseCache) -> None:
        self.bases = bases

    async def _admit(
        self, ref: str, subjects: tuple[Subject, ...], needs: list[tuple[int, int]], micros: int, ttl_s: float
    ) -> tuple[str, int, int]:
        raise NotImplementedError

    async def place(
        self, ref: str, subjects: tuple[Subject, ...], micros: int, ttl_s: float
    ) -> Subject | None:
        for _ in range(5):
            needs = [self.bases.need(s) for s in subjects]
            verdict, index, gen = await self._admit(ref, subjects, needs, micros, ttl_s)
            if verdict == OK:
                return None
            if verdict == REFUSED:
                return subjects[index]
            await self.bases.refresh(subjects[index], gen)
        return subjects[0]  # flushes kept moving the base: refuse rather than guess


class LocalHolds(SharedBooks):
    """One process: the books in memory. Nothing outlives the process, so nothing expires.
    A subject has a book while it has a generation (`gens`); a flush bumps it, and forgets
    a book left empty (its base is read again on next use)."""

    shared = False

    def __init__(self, bases: BaseCache) -> None:
        super().__init__(bases)
        self.books = RefBooks()
        self.out = self.books.out
        self.gens: dict[str, int] = {}
        self._generations = itertools.count(1)

    def _gen(self, name: str) -> int:
        gen = self.gens.get(name)
        if gen is None:  # a generation never used before: no base read for a past book matches
            gen = self.gens[name] = next(self._generations)
        return gen

    async def _admit(
        self, ref: str, subjects: tuple[Subject, ...], needs: list[tuple[int, int]], micros: int, ttl_s: float
    ) -> tuple[str, int, int]:
        return self._admit_now(ref, subjects, needs, micros)

    def place_now(self, ref: str, subjects: tuple[Subject, ...], micros: int) -> bool:
        bases, gens, out = self.bases, self.gens, self.out
        for s in subjects:  # _admit_now's checks, inlined: once per request
            base, gen = bases.need(s)
            book = gens.get(s.name)
            if book is None:
                book = self._gen(s.name)
            if gen != book or not admits(base - out[s.name], micros):
                return False
        if micros:
            self.books.put(ref, subjects, micros)
        return True

    def _admit_now(
        self, ref: str, subjects: tuple[Subject, ...], needs: list[tuple[int, int]], micros: int
    ) -> tuple[str, int, int]:
        for index, (s, (base, gen)) in enumerate(zip(subjects, needs, strict=True)):
            book = self._gen(s.name)
            if gen != book:
                return STALE, index, book
            if not admits(base - self.out[s.name], micros):
                return REFUSED, index, book
        if micros:
            self.books.put(ref, subjects, micros)
        return OK, 0, 0

    def settle(self, ref: str, subjects: tuple[Subject, ...], micros: int, ttl_s: float) -> None:
        for s in subjects:
            self._gen(s.name)  # a book for each, if it had none
        self.books.put(ref, subjects, micros)

    def flushed(self, costs: list[Flushed]) -> None:
        gens = self.gens
        self.books.take(cost.ref for cost in costs)
        # Every subject a cost was counted under moved in the database, held here or not:
        # by the costs that landed (None: by an amount not known here).
        moved: dict[str, int | None] = {}
        for cost in costs:
            for name in cost.subjects:
                if name in gens:
                    was = moved.get(name, 0)
                    moved[name] = was + cost.micros if was is not None and cost.landed else None
        out = self.out
        for name, micros in moved.items():
            if out.get(name):
                gen = next(self._generations)
                # Its cached base moves with the database (no read, which the requests
                # arriving meanwhile would all wait for); else it is read again.
                if micros is not None:
                    self.bases.moved(name, gens[name], micros, gen)
                gens[name] = gen
            else:  # an empty book is forgotten; a fresh one starts with a new base read
                del gens[name]
                out.pop(name, None)
                self.bases.drop([name])

    async def changed(self, subject: Subject) -> None:
        self.gens[subject.name] = next(self._generations)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
