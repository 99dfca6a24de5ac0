"""Top-up payments: the order made before the customer pays, and the exactly-once credit.

A payment moves pending -> paid once: the conditional update is the lock (of two webhook
deliveries racing, exactly one matches) and the unique (provider, payment_ref) index refuses
a second order claiming the same provider payment. The credit's ledger row is written in the
same transaction. A refund moves paid -> refunding (claimed before the provider is called)
-> refunded with its debit, or back to paid when the provider refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.accounts import move_balance
from hubgate.storage.keys import as_utc, utcnow
from hubgate.storage.tables import accounts, payments


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: int
    order_id: str
    account_id: int
    user_id: int | None
    provider: str
    method: str
    status: str
    amount_micros: int
    bonus_micros: int
    currency: str
    charge: str
    session_ref: str | None
    payment_ref: str | None
    refund_ref: str | None
    created_at: datetime
    paid_at: datetime | None
    refunded_at: datetime | None

    @property
    def credit_micros(self) -> int:
        return self.amount_micros + self.bonus_micros


def _record(row: Any) -> PaymentRecord:
    values = dict(row._mapping)
    for name in ("created_at", "paid_at", "refunded_at"):
        values[name] = as_utc(values[name])
    return PaymentRecord(**values)


class RefundRefused(Exception):
    """The payment is not refundable now (not paid, being refunded, or the balance is short)."""


class PaymentRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, **values: Any) -> PaymentRecord:
        async with self._engine.begin() as conn:
            await conn.execute(insert(payments).values(**values, status="pending", created_at=utcnow()))
        found = await self.by_order(values["order_id"])
        assert found is not None
        return found

    async def by_order(self, order_id: str) -> PaymentRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(payments).where(payments.c.order_id == order_id))).first()
        return _record(row) if row is not None else None

    async def set_session(self, order_id: str, session_ref: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(payments).where(payments.c.order_id == order_id).values(session_ref=session_ref)
            )

    async def credit(self, order_id: str, payment_ref: str) -> bool:
        """Mark a pending payment paid and credit its account, once; False when already done."""
        try:
            async with self._engine.begin() as conn:
                row = (await conn.execute(select(payments).where(payments.c.order_id == order_id))).first()
                if row is None or row.status != "pending":
                    return False
                claimed = await conn.execute(
                    update(payments)
                    .where(payments.c.id == row.id, payments.c.status == "pending")
                    .values(status="paid", payment_ref=payment_ref, paid_at=utcnow())
                )
                if claimed.rowcount != 1:
                    return False
                amount = int(row.amount_micros) + int(row.bonus_micros)
                await move_balance(conn, int(row.account_id), amount, "topup", f"payment:{order_id}")
        except IntegrityError:  # another order already claimed this provider payment
            return False
        return True

    async def claim_refund(self, order_id: str) -> PaymentRecord:
        """paid -> refunding, if the account still holds what the payment credited."""
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(payments).where(payments.c.order_id == order_id))).first()
            if row is None or row.status != "paid":
                raise RefundRefused(f"payment {order_id} is {row.status if row else 'unknown'}, not paid")
            account = (await conn.execute(select(accounts).where(accounts.c.id == row.account_id))).first()
            credited = int(row.amount_micros) + int(row.bonus_micros)
            if account is not None and account.limited and int(account.balance_micros) < credited:
                raise RefundRefused("the account's balance is below what this payment credited")
            claimed = await conn.execute(
                update(payments)
                .where(payments.c.id == row.id, payments.c.status == "paid")
                .values(status="refunding")
            )
            if claimed.rowcount != 1:
                raise RefundRefused(f"payment {order_id} is being refunded already")
        found = await self.by_order(order_id)
        assert found is not None
        return found

    async def finish_refund(self, order_id: str, refund_ref: str) -> None:
        """refunding -> refunded with the debit of what the payment credited, in one transaction."""
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(payments).where(payments.c.order_id == order_id))).first()
            assert row is not None
            done = await conn.execute(
                update(payments)
                .where(payments.c.id == row.id, payments.c.status == "refunding")
                .values(status="refunded", refund_ref=refund_ref, refunded_at=utcnow())
            )
            if done.rowcount == 1:
                amount = int(row.amount_micros) + int(row.bonus_micros)
                await move_balance(conn, int(row.account_id), -amount, "refund", f"payment:{order_id}")

    async def release_refund(self, order_id: str) -> None:
        """The provider refused the refund: back to paid."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(payments)
                .where(payments.c.order_id == order_id, payments.c.status == "refunding")
                .values(status="paid")
            )

    async def page(
        self, *, account_id: int | None = None, limit: int = 50, cursor: int | None = None
    ) -> tuple[list[PaymentRecord], int | None]:
        """Newest first; the cursor is the id to continue below."""
        query = select(payments).order_by(payments.c.id.desc()).limit(limit + 1)
        if account_id is not None:
            query = query.where(payments.c.account_id == account_id)
        if cursor is not None:
            query = query.where(payments.c.id < cursor)
        async with self._engine.connect() as conn:
            rows = [_record(r) for r in (await conn.execute(query)).all()]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].id if more and rows else None)
