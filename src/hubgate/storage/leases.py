"""Hold leases in the database: one conditional UPDATE grants a process a chunk of a
balance (or a key's budget) that nobody else has leased; the process holds requests
against it in memory (access/leases.py) and gives back what flushes spent or it no longer
needs. Each statement keeps `leased_micros` equal to the sum of the subject's lease rows,
and every transaction locks the subject's row before its lease row (no deadlocks).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table, and_, case, delete, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hubgate.metering.budget import period_start
from hubgate.storage.keys import utcnow
from hubgate.storage.tables import accounts, api_keys, hold_leases

ACCOUNT, KEY = "a", "k"


class Subject(Protocol):
    """What is leased: an account's balance (kind "a") or a key's budget ("k", with its
    budget period; None: for life)."""

    @property
    def kind(self) -> str: ...

    @property
    def id(self) -> int: ...

    @property
    def period(self) -> str | None: ...


def _table(kind: str) -> Table:
    return accounts if kind == ACCOUNT else api_keys


def headroom(kind: str, period: str | None, now: datetime) -> ColumnElement[Any]:
    """What nobody has spent or leased yet: balance - leased, or budget - counted spend - leased."""
    if kind == ACCOUNT:
        return accounts.c.balance_micros - accounts.c.leased_micros
    k = api_keys.c
    if period is None:
        counted: ColumnElement[Any] = k.spent_micros
    else:
        counted = case(
            (and_(k.period_started_at.is_not(None), k.period_started_at >= period_start(period, now)),
             k.period_spent_micros),
            else_=literal(0),
        )  # fmt: skip
    return k.budget_micros - counted - k.leased_micros


class LeaseStore:
    def __init__(self, engine: AsyncEngine, holder: str) -> None:
        self._engine = engine
        self.holder = holder

    def _row(self, kind: str, subject_id: int) -> ColumnElement[bool]:
        h = hold_leases.c
        return and_(h.holder == self.holder, h.kind == kind, h.subject_id == subject_id)

    async def take(self, subject: Subject, want: int, need: int, ttl_s: float) -> int:
        """Lease `want` micro-dollars of the subject's headroom, or as much of it as there is
        if that is at least `need`; returns what was granted (0: not even `need` is left)."""
        kind, subject_id = subject.kind, subject.id
        period = subject.period if kind != ACCOUNT else None
        table = _table(kind)
        now = utcnow()
        room = headroom(kind, period, now)
        async with self._engine.begin() as conn:
            granted = 0
            for amount in (want, None, None):
                if amount is None:  # less than `want` is left: take what there is, if enough
                    left = (await conn.execute(select(room).where(table.c.id == subject_id))).scalar()
                    if left is None or int(left) < need:
                        return 0
                    amount = int(left)
                done = await conn.execute(
                    update(table)
                    .where(table.c.id == subject_id, room >= amount)
                    .values(leased_micros=table.c.leased_micros + amount)
                )
                if done.rowcount == 1:
                    granted = amount
                    break
            if granted <= 0:
                return 0
            expires = now + timedelta(seconds=ttl_s)
            moved = await conn.execute(
                update(hold_leases)
                .where(self._row(kind, subject_id))
                .values(amount_micros=hold_leases.c.amount_micros + granted, expires_at=expires)
            )
            if moved.rowcount == 0:
                await conn.execute(
                    insert(hold_leases).values(
                        holder=self.holder, kind=kind, subject_id=subject_id, amount_micros=granted,
                        expires_at=expires,
                    )
                )  # fmt: skip
        return granted

    async def give_back(self, amounts: dict[tuple[str, int], int]) -> None:
        """Shrink this holder's leases (spent costs now in the counters, or unused headroom).
        A lease already reclaimed as expired is left alone: its whole amount went back then."""
        async with self._engine.begin() as conn:
            for (kind, subject_id), amount in sorted(amounts.items()):
                if amount > 0:
                    await _give_back(conn, self._row(kind, subject_id), kind, subject_id, amount)

    async def renew(self, ttl_s: float) -> dict[tuple[str, int], int]:
        """Push this holder's leases' expiry out; returns them (what the database still grants)."""
        h = hold_leases.c
        async with self._engine.begin() as conn:
            await conn.execute(
                update(hold_leases)
                .where(h.holder == self.holder)
                .values(expires_at=utcnow() + timedelta(seconds=ttl_s))
            )
            rows = await conn.execute(
                select(h.kind, h.subject_id, h.amount_micros).where(h.holder == self.holder)
            )
            return {(r.kind, int(r.subject_id)): int(r.amount_micros) for r in rows}

    async def changed(self, subject: Subject) -> None:
        """An admin credit or debit: nothing to do, the next lease reads the database."""
        return None

    async def release_all(self) -> None:
        """Give every lease of this holder back (a graceful stop, after the last flush)."""
        await self._drop(hold_leases.c.holder == self.holder)

    async def reclaim_expired(self) -> int:
        """Delete every lease past its expiry (its process died) and give its amount back."""
        return await self._drop(hold_leases.c.expires_at < utcnow())

    async def _drop(self, which: ColumnElement[bool]) -> int:
        h = hold_leases.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(h.holder, h.kind, h.subject_id).where(which))).all()
        for row in rows:
            async with self._engine.begin() as conn:
                table = _table(row.kind)
                await _lock(conn, table, int(row.subject_id))
                gone = await conn.execute(
                    delete(hold_leases)
                    .where(h.holder == row.holder, h.kind == row.kind, h.subject_id == row.subject_id, which)
                    .returning(h.amount_micros)
                )
                amount = gone.scalar()
                if amount:
                    await conn.execute(
                        update(table)
                        .where(table.c.id == row.subject_id)
                        .values(leased_micros=table.c.leased_micros - int(amount))
                    )
        return len(rows)


async def _lock(conn: AsyncConnection, table: Table, subject_id: int) -> None:
    """Lock the subject's row first (the order every lease transaction takes)."""
    await conn.execute(
        update(table).where(table.c.id == subject_id).values(leased_micros=table.c.leased_micros)
    )


async def _give_back(
    conn: AsyncConnection, row: ColumnElement[bool], kind: str, subject_id: int, amount: int
) -> None:
    table = _table(kind)
    await _lock(conn, table, subject_id)
    shrunk = await conn.execute(
        update(hold_leases)
        .where(row, hold_leases.c.amount_micros >= amount)
        .values(amount_micros=hold_leases.c.amount_micros - amount)
    )
    if shrunk.rowcount == 1:
        await conn.execute(
            update(table).where(table.c.id == subject_id).values(leased_micros=table.c.leased_micros - amount)
        )
