"""Paged listings for the admin API: accounts, keys, the credit ledger, redemption codes,
console users.

Pages use keyset pagination on the id: a cursor is the last id of the previous page,
so a page stays stable while rows are added and never costs an OFFSET scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.accounts import AccountRecord
from hubgate.storage.accounts import _record as account_record
from hubgate.storage.keys import KeyRecord, as_utc, utcnow
from hubgate.storage.keys import _record as key_record
from hubgate.storage.tables import accounts, api_keys, credit_ledger, redemption_codes, users
from hubgate.storage.users import User
from hubgate.storage.users import _user as user_record


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    amount_micros: int
    kind: str
    reference: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """A redemption code as the admin API shows it: never the code itself."""

    id: int
    batch: str
    prefix: str
    amount_micros: int
    created_at: datetime
    expires_at: datetime | None
    redeemed_at: datetime | None
    redeemed_by: str | None  # account name
    redeemed_by_id: int | None


async def _page(
    engine: AsyncEngine, query: Select[Any], id_column: Any, limit: int, cursor: int | None, newest: bool
) -> tuple[list[Any], int | None]:
    if cursor is not None:
        query = query.where(id_column < cursor if newest else id_column > cursor)
    query = query.order_by(id_column.desc() if newest else id_column).limit(limit + 1)
    async with engine.connect() as conn:
        rows = list((await conn.execute(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1].id) if more else None)


async def accounts_page(
    engine: AsyncEngine, *, limit: int, cursor: int | None = None, group: str | None = None
) -> tuple[list[AccountRecord], int | None]:
    """Accounts in creation order."""
    query = select(accounts)
    if group is not None:
        query = query.where(accounts.c.group_name == group)
    rows, nxt = await _page(engine, query, accounts.c.id, limit, cursor, newest=False)
    return [account_record(r) for r in rows], nxt


async def keys_page(
    engine: AsyncEngine, *, limit: int, cursor: int | None = None, account_id: int | None = None
) -> tuple[list[KeyRecord], int | None]:
    """Keys in creation order (the records hold hashes only, never secrets)."""
    query = select(api_keys)
    if account_id is not None:
        query = query.where(api_keys.c.account_id == account_id)
    rows, nxt = await _page(engine, query, api_keys.c.id, limit, cursor, newest=False)
    return [key_record(r) for r in rows], nxt


async def account_names(engine: AsyncEngine, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(select(accounts.c.id, accounts.c.name).where(accounts.c.id.in_(ids)))
        return {int(r.id): r.name for r in rows}


async def accounts_named_like(engine: AsyncEngine, text: str, *, limit: int = 1000) -> tuple[int, ...]:
    """Ids of the accounts whose name contains `text`, in any case (at most `limit`)."""
    name = func.lower(accounts.c.name)
    query = select(accounts.c.id).where(name.contains(text.lower(), autoescape=True)).limit(limit)
    async with engine.connect() as conn:
        return tuple(int(r.id) for r in await conn.execute(query))


@dataclass(frozen=True, slots=True)
class KeyOrigin:
    """What a usage row needs to name its key as its owner knows it."""

    name: str
    source: str
    account_id: int | None


async def key_origins(engine: AsyncEngine, ids: set[int]) -> dict[int, KeyOrigin]:
    if not ids:
        return {}
    t = api_keys.c
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.id, t.name, t.source, t.account_id).where(t.id.in_(ids)))
        return {int(r.id): KeyOrigin(r.name, r.source, r.account_id) for r in rows}


async def accounts_per_group(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(accounts.c.group_name, func.count()).group_by(accounts.c.group_name))
        return {r[0]: int(r[1]) for r in rows}


def ledger_entry(r: Any) -> LedgerEntry:
    """One credit_ledger row as the lists show it."""
    return LedgerEntry(
        id=int(r.id),
        amount_micros=int(r.amount_micros),
        kind=r.kind,
        reference=r.reference,
        created_at=as_utc(r.created_at) or utcnow(),
    )


async def ledger_page(
    engine: AsyncEngine, account_id: int, *, limit: int, cursor: int | None = None
) -> tuple[list[LedgerEntry], int | None]:
    """An account's ledger rows, newest first."""
    query = select(credit_ledger).where(credit_ledger.c.account_id == account_id)
    rows, nxt = await _page(engine, query, credit_ledger.c.id, limit, cursor, newest=True)
    entries = [ledger_entry(r) for r in rows]
    return entries, nxt


async def ledger_total(engine: AsyncEngine, account_id: int) -> int:
    """The sum of an account's ledger rows: every credit and debit ever made."""
    async with engine.connect() as conn:
        total = await conn.scalar(
            select(func.coalesce(func.sum(credit_ledger.c.amount_micros), 0)).where(
                credit_ledger.c.account_id == account_id
            )
        )
    return int(total or 0)


async def codes_page(
    engine: AsyncEngine, *, limit: int, cursor: int | None = None, batch: str | None = None
) -> tuple[list[CodeInfo], int | None]:
    """Redemption codes, newest first, with who redeemed them."""
    c = redemption_codes.c
    query = select(
        c.id,
        c.batch,
        c.code_prefix,
        c.amount_micros,
        c.created_at,
        c.expires_at,
        c.redeemed_at,
        c.redeemed_by,
        accounts.c.name.label("account_name"),
    ).select_from(redemption_codes.outerjoin(accounts, accounts.c.id == c.redeemed_by))
    if batch is not None:
        query = query.where(c.batch == batch)
    rows, nxt = await _page(engine, query, c.id, limit, cursor, newest=True)
    infos = [
        CodeInfo(
            id=int(r.id),
            batch=r.batch,
            prefix=r.code_prefix,
            amount_micros=int(r.amount_micros),
            created_at=as_utc(r.created_at) or utcnow(),
            expires_at=as_utc(r.expires_at),
            redeemed_at=as_utc(r.redeemed_at),
            redeemed_by=r.account_name,
            redeemed_by_id=r.redeemed_by,
        )
        for r in rows
    ]
    return infos, nxt


async def users_page(
    engine: AsyncEngine,
    *,
    limit: int,
    cursor: int | None = None,
    email: str | None = None,
    account_id: int | None = None,
) -> tuple[list[User], int | None]:
    """Console users in creation order (the records carry password hashes: never show them)."""
    query = select(users)
    if email is not None:
        query = query.where(users.c.email == email.strip().lower())
    if account_id is not None:
        query = query.where(users.c.account_id == account_id)
    rows, nxt = await _page(engine, query, users.c.id, limit, cursor, newest=False)
    return [user_record(r) for r in rows], nxt
