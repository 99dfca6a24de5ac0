"""Pre-authorization holds: a request's maximum cost is held against its key's budget and
its account's balance before it goes upstream, settled to the actual cost when it ends.

A *subject* is one limit: an account's balance (`a`) or a key's budget (`k`). Per subject
a book keeps `out`: the open holds plus the costs settled but not yet written by a usage
flush, each entry under its ref (the request id, a video task id). A hold is placed only
if `base - out` covers it, where `base` is what the database says is left (the balance;
the budget minus the spend that counts). A flush moves costs into the database, then
removes their entries from the book and bumps the subject's generation: a `base` read
before that bump is stale and read again, so a cost is never counted neither in `base`
nor in `out` (it may briefly be counted in both, which only refuses early).

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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

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


class BaseCache:
    """Bases read from the database, each with the book's generation seen before the read.
    One read per subject and generation at a time: after a flush bumps a book's generation,
    the requests in flight that find it stale share one read instead of one each."""

    def __init__(self, read: ReadBase, ttl_s: float) -> None:
        self._read = read
        self._ttl = ttl_s
        self._entries: dict[str, _Base] = {}
        self._reading: dict[tuple[str, int], asyncio.Future[None]] = {}

    def need(self, subject: Subject) -> tuple[int, int]:
        """(base, generation) to present to the book; generation -1 when none is cached.
        Keys cache their counted spend, so a budget changed since is applied at once."""
        hit = self._entries.get(subject.name)
        if hit is None or hit.expires <= time.monotonic():
            return 0, -1
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
        value = await self._read(subject)
        self._entries[subject.name] = _Base(value, gen, time.monotonic() + self._ttl)

    def _read_done(self, key: tuple[str, int], done: asyncio.Future[None]) -> None:
        if self._reading.get(key) is done:
            del self._reading[key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone

    def drop(self, names: Iterable[str]) -> None:
        for name in names:
            self._entries.pop(name, None)

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class Book:
    """One subject's in-flight money: open holds and unflushed costs, by ref."""

    out: int = 0
    gen: int = 0
    entries: dict[str, int] = field(default_factory=dict)

    def put(self, ref: str, micros: int) -> None:
        self.out += micros - self.entries.get(ref, 0)
        self.entries[ref] = micros

    def drop(self, ref: str) -> int:
        micros = self.entries.pop(ref, 0)
        self.out -= micros
        return micros


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
    """One process: the books in memory. Nothing outlives the process, so nothing expires."""

    shared = False

    def __init__(self, bases: BaseCache) -> None:
        super().__init__(bases)
        self.books: dict[str, Book] = {}
        self._generations = itertools.count(1)

    def _book(self, name: str) -> Book:
        book = self.books.get(name)
        if book is None:  # a generation never used before: no base read for a past book matches
            book = self.books[name] = Book(gen=next(self._generations))
        return book

    async def _admit(
        self, ref: str, subjects: tuple[Subject, ...], needs: list[tuple[int, int]], micros: int, ttl_s: float
    ) -> tuple[str, int, int]:
        return self._admit_now(ref, subjects, needs, micros)

    def place_now(self, ref: str, subjects: tuple[Subject, ...], micros: int) -> bool:
        needs = [self.bases.need(s) for s in subjects]
        return self._admit_now(ref, subjects, needs, micros)[0] == OK

    def _admit_now(
        self, ref: str, subjects: tuple[Subject, ...], needs: list[tuple[int, int]], micros: int
    ) -> tuple[str, int, int]:
        books = [self._book(s.name) for s in subjects]
        for index, (book, (base, gen)) in enumerate(zip(books, needs, strict=True)):
            if gen != book.gen:
                return STALE, index, book.gen
            if not admits(base - book.out, micros):
                return REFUSED, index, book.gen
        if micros:
            for book in books:
                book.put(ref, micros)
        return OK, 0, 0

    def settle(self, ref: str, subjects: tuple[Subject, ...], micros: int, ttl_s: float) -> None:
        for subject in subjects:
            book = self._book(subject.name)
            if micros:
                book.put(ref, micros)
            else:
                book.drop(ref)

    def flushed(self, costs: list[Flushed]) -> None:
        moved: set[str] = set()
        for cost in costs:
            for name in cost.subjects:
                book = self.books.get(name)
                if book is not None:
                    book.drop(cost.ref)
                    moved.add(name)
        for name in moved:
            self.books[name].gen = next(self._generations)
        for name in [n for n in moved if not self.books[n].entries]:
            del self.books[name]  # an empty book is forgotten; a fresh one starts with a new base read
            self.bases.drop([name])

    async def changed(self, subject: Subject) -> None:
        self._book(subject.name).gen = next(self._generations)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
