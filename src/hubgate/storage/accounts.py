"""Accounts, their credit ledger and redemption codes.

Every balance change is a ledger row written in the same transaction as the
balance update, so `balance = sum(ledger) - sum(usage costs)` holds at all times.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hubgate.storage.keys import as_utc, hash_key, utcnow
from hubgate.storage.tables import accounts, credit_ledger, redemption_codes

DEFAULT_ACCOUNT = "default"
CODE_PREFIX = "hg-redeem-"


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    name: str
    group: str
    limited: bool  # False: no balance limit (the built-in default account)
    balance_micros: int
    disabled: bool
    max_request_cost_micros: int | None = None  # caps an uncapped request's hold; None: the global


def _record(row: Any) -> AccountRecord:
    return AccountRecord(
        id=row.id,
        name=row.name,
        group=row.group_name,
        limited=bool(row.limited),
        balance_micros=int(row.balance_micros),
        disabled=bool(row.disabled),
        max_request_cost_micros=row.max_request_cost_micros,
    )


class AccountExists(Exception):
    pass


class RedeemError(Exception):
    """The code is unknown, already used or expired."""


async def _move(
    conn: AsyncConnection, account_id: int, amount: int, kind: str, reference: str | None
) -> None:
    """Change a balance and write its ledger row, inside the caller's transaction."""
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(balance_micros=accounts.c.balance_micros + amount, updated_at=utcnow())
    )
    await conn.execute(
        insert(credit_ledger).values(
            account_id=account_id, amount_micros=amount, kind=kind, reference=reference, created_at=utcnow()
        )
    )


move_balance = _move  # for repositories that book a balance change inside their own transaction


class AccountRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def by_id(self, account_id: int) -> AccountRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
        return _record(row) if row is not None else None

    async def by_name(self, name: str) -> AccountRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.name == name))).first()
        return _record(row) if row is not None else None

    async def all(self) -> list[AccountRecord]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.id))).all()
        return [_record(r) for r in rows]

    async def create(
        self,
        name: str,
        *,
        group: str = "default",
        limited: bool = True,
        credit_micros: int = 0,
        source: str = "api",
        max_request_cost_micros: int | None = None,
    ) -> AccountRecord:
        now = utcnow()
        async with self._engine.begin() as conn:
            if (await conn.execute(select(accounts.c.id).where(accounts.c.name == name))).first() is not None:
                raise AccountExists(name)
            result = await conn.execute(
                insert(accounts).values(
                    name=name,
                    group_name=group,
                    limited=limited,
                    balance_micros=0,
                    disabled=False,
                    source=source,
                    max_request_cost_micros=max_request_cost_micros,
                    created_at=now,
                    updated_at=now,
                )
            )
            account_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if credit_micros:
                await _move(conn, account_id, credit_micros, "initial", None)
        record = await self.by_id(account_id)
        assert record is not None
        return record

    async def ensure_default(self) -> AccountRecord:
        """The built-in account of keys that name none: no balance limit."""
        existing = await self.by_name(DEFAULT_ACCOUNT)
        if existing is not None:
            return existing
        try:
            return await self.create(DEFAULT_ACCOUNT, limited=False, source="builtin")
        except AccountExists:  # another replica made it first
            found = await self.by_name(DEFAULT_ACCOUNT)
            assert found is not None
            return found

    async def update(self, account_id: int, **values: Any) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(**values, updated_at=utcnow())
            )

    async def adjust(
        self, account_id: int, amount_micros: int, *, reference: str | None = None
    ) -> AccountRecord:
        """Credit (positive) or debit (negative) an account, with its ledger row."""
        kind = "credit" if amount_micros >= 0 else "debit"
        async with self._engine.begin() as conn:
            await _move(conn, account_id, amount_micros, kind, reference)
        record = await self.by_id(account_id)
        assert record is not None
        return record

    async def create_codes(
        self, batch: str, count: int, amount_micros: int, *, expires_at: datetime | None = None
    ) -> list[str]:
        """A batch of one-time codes; the codes are returned once and stored hashed."""
        codes = [CODE_PREFIX + secrets.token_urlsafe(18) for _ in range(count)]
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(redemption_codes),
                [
                    {
                        "code_hash": hash_key(code),
                        "code_prefix": code[: len(CODE_PREFIX) + 4],
                        "batch": batch,
                        "amount_micros": amount_micros,
                        "created_at": now,
                        "expires_at": expires_at,
                        "redeemed_at": None,
                        "redeemed_by": None,
                    }
                    for code in codes
                ],
            )
        return codes

    async def redeem(self, code: str, account_id: int) -> int:
        """Redeem a code exactly once, atomically; returns the amount credited."""
        now = utcnow()
        digest = hash_key(code)
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(
                        redemption_codes.c.id, redemption_codes.c.amount_micros, redemption_codes.c.expires_at
                    ).where(redemption_codes.c.code_hash == digest)
                )
            ).first()
            if row is None:
                raise RedeemError("unknown redemption code")
            expires = as_utc(row.expires_at)
            if expires is not None and expires <= now:
                raise RedeemError("this redemption code has expired")
            # The conditional update is the lock: of concurrent redeemers exactly one matches.
            claimed = await conn.execute(
                update(redemption_codes)
                .where(redemption_codes.c.id == row.id, redemption_codes.c.redeemed_at.is_(None))
                .values(redeemed_at=now, redeemed_by=account_id)
            )
            if claimed.rowcount != 1:
                raise RedeemError("this redemption code has already been used")
            await _move(conn, account_id, int(row.amount_micros), "redeem", f"code:{row.id}")
        return int(row.amount_micros)
