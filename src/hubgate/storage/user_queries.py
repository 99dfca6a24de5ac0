"""Offset-paged reads for the user API (new-api's `p` and `page_size` with a total), each
scoped to one account: its keys, usage rows, usage totals and ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.admin_lists import LedgerEntry, ledger_entry
from hubgate.storage.keys import KeyRecord, _record, as_utc, utcnow
from hubgate.storage.tables import api_keys, credit_ledger, usage_logs


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Which of an account's usage rows; None means any."""

    account_id: int
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    key_name: str | None = None
    model: str | None = None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def account_keys(
    engine: AsyncEngine,
    account_id: int,
    *,
    offset: int,
    limit: int,
    name_like: str | None = None,
    prefix_like: str | None = None,
) -> tuple[list[KeyRecord], int]:
    """An account's keys by id, with the total; `name_like` and `prefix_like` match parts."""
    c = api_keys.c
    where: list[Any] = [c.account_id == account_id]
    if name_like:
        where.append(c.name.like(f"%{_escape(name_like)}%", escape="\\"))
    if prefix_like:
        where.append(c.key_prefix.like(f"%{_escape(prefix_like)}%", escape="\\"))
    async with engine.connect() as conn:
        total = int(await conn.scalar(select(func.count()).select_from(api_keys).where(*where)) or 0)
        rows = (
            await conn.execute(select(api_keys).where(*where).order_by(c.id).offset(offset).limit(limit))
        ).all()
    return [_record(r) for r in rows], total


async def delete_key(engine: AsyncEngine, key_id: int) -> None:
    """Remove a key for good (its usage rows keep its name and id; ids are never handed out
    again: PostgreSQL's sequence, SQLite's AUTOINCREMENT since migration 0017)."""
    async with engine.begin() as conn:
        await conn.execute(delete(api_keys).where(api_keys.c.id == key_id))


def _usage_where(q: UsageQuery) -> list[Any]:
    c = usage_logs.c
    where: list[Any] = [c.account_id == q.account_id]
    if q.since is not None:
        where.append(c.created_at >= q.since)
    if q.until is not None:
        where.append(c.created_at < q.until)
    if q.key_name is not None:
        where.append(c.key_name == q.key_name)
    if q.model is not None:
        where.append(c.model == q.model)
    return where


async def usage_rows(
    engine: AsyncEngine, q: UsageQuery, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Usage rows newest first, with the total."""
    where = _usage_where(q)
    query = select(usage_logs).where(*where).order_by(usage_logs.c.id.desc()).offset(offset).limit(limit)
    async with engine.connect() as conn:
        total = int(await conn.scalar(select(func.count()).select_from(usage_logs).where(*where)) or 0)
        rows = (await conn.execute(query)).all()
    out = []
    for r in rows:
        row = {str(k): v for k, v in r._mapping.items()}
        row["created_at"] = as_utc(row["created_at"])
        out.append(row)
    return out, total


async def usage_stat(engine: AsyncEngine, q: UsageQuery) -> tuple[int, int, int, int]:
    """(cost in micro-dollars and requests over the rows asked for, requests and tokens in the
    last 60 s)."""
    c = usage_logs.c
    minute = [*_usage_where(UsageQuery(q.account_id, key_name=q.key_name, model=q.model))]
    minute.append(c.created_at >= utcnow() - timedelta(seconds=60))
    async with engine.connect() as conn:
        cost, count = (
            await conn.execute(
                select(func.coalesce(func.sum(c.cost_micros), 0), func.count()).where(*_usage_where(q))
            )
        ).one()
        recent = (
            await conn.execute(
                select(func.count(), func.coalesce(func.sum(c.prompt_tokens + c.completion_tokens), 0)).where(
                    *minute
                )
            )
        ).one()
    return int(cost or 0), int(count), int(recent[0]), int(recent[1])


async def ledger_rows(
    engine: AsyncEngine, account_id: int, *, offset: int, limit: int
) -> tuple[list[LedgerEntry], int]:
    """An account's ledger rows newest first, with the total."""
    c = credit_ledger.c
    where = c.account_id == account_id
    async with engine.connect() as conn:
        total = int(await conn.scalar(select(func.count()).select_from(credit_ledger).where(where)) or 0)
        rows = (
            await conn.execute(
                select(credit_ledger).where(where).order_by(c.id.desc()).offset(offset).limit(limit)
            )
        ).all()
    entries = [ledger_entry(r) for r in rows]
    return entries, total
