"""`hubgate ledger check`: every stored balance and spend, recomputed from what justifies it.

For every account: balance = credits (the credit ledger) - settled costs, its leased
amount = its open hold leases, and what is left to hold (balance - leased) is not below
zero when the account is limited. For every key: spent = its settled costs, leased = its
open leases, and a budget is not overspent. Settled costs are read from the daily
roll-ups, which equal the usage log row for row and keep the totals of days retention
has pruned from it.

Holds kept in Redis (`redis_url` set) are not in the database: the caller reads them
(`access.redis_holds.read_leases`) after the database, and for every account and key the
check adds them to the open holds: what is left to hold, balance - database leases -
Redis leases (for a key: budget - counted spend - both), is not below zero, and the total
Redis records for a subject equals the sum of its holders' leases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.metering.budget import counted_spend
from hubgate.storage.keys import as_utc, utcnow
from hubgate.storage.tables import accounts, api_keys, credit_ledger, hold_leases, usage_daily


@dataclass(frozen=True, slots=True)
class Difference:
    subject: str  # account | key
    id: int
    name: str
    check: str  # balance | spent | leased | redis_leased | negative
    stored: int
    expected: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class HeldElsewhere:
    """One subject's leases kept outside the database (Redis): the total the store records
    for it, and the sum of its holders' leases (the two agree in a sound store)."""

    recorded: int
    holders: int


# Leases kept outside the database, by (kind, id): kind "a" an account, "k" a key.
OutsideHolds = Mapping[tuple[str, int], HeldElsewhere]


@dataclass(frozen=True, slots=True)
class LedgerReport:
    accounts: int
    keys: int
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences


async def _sums(engine: AsyncEngine, query: Any) -> dict[int, int]:
    async with engine.connect() as conn:
        return {int(r[0]): int(r[1] or 0) for r in await conn.execute(query)}


def _leases(kind: str) -> Any:
    h = hold_leases.c
    return select(h.subject_id, func.sum(h.amount_micros)).where(h.kind == kind).group_by(h.subject_id)


async def check_ledger(
    engine: AsyncEngine, outside: Callable[[], Awaitable[OutsideHolds]] | None = None
) -> LedgerReport:
    """Every difference between the stored counters and what justifies them. `outside` reads
    the leases kept in Redis; it is called after the database is read, so a usage flush in
    between makes the balance look higher, never lower."""
    d = usage_daily.c
    credits = await _sums(
        engine,
        select(credit_ledger.c.account_id, func.sum(credit_ledger.c.amount_micros)).group_by(
            credit_ledger.c.account_id
        ),
    )
    account_costs = await _sums(engine, select(d.account_id, func.sum(d.cost_micros)).group_by(d.account_id))
    key_costs = await _sums(engine, select(d.key_id, func.sum(d.cost_micros)).group_by(d.key_id))
    account_leases = await _sums(engine, _leases("a"))
    key_leases = await _sums(engine, _leases("k"))
    differences: list[Difference] = []
    async with engine.connect() as conn:
        account_rows = (await conn.execute(select(accounts).order_by(accounts.c.id))).all()
        key_rows = (await conn.execute(select(api_keys).order_by(api_keys.c.id))).all()
    held: OutsideHolds = await outside() if outside is not None else {}
    for a in account_rows:
        ident, name = int(a.id), str(a.name)
        expected = credits.get(ident, 0) - account_costs.get(ident, 0)
        _compare(differences, "account", ident, name, "balance", int(a.balance_micros), expected)
        _compare(
            differences, "account", ident, name, "leased", int(a.leased_micros), account_leases.get(ident, 0)
        )
        elsewhere = _elsewhere(differences, held, "a", "account", ident, name)
        left = int(a.balance_micros) - int(a.leased_micros) - elsewhere
        if a.limited and left < 0:
            differences.append(Difference("account", ident, name, "negative", left, 0))
    now = utcnow()
    for k in key_rows:
        ident, name = int(k.id), str(k.name)
        _compare(differences, "key", ident, name, "spent", int(k.spent_micros), key_costs.get(ident, 0))
        _compare(differences, "key", ident, name, "leased", int(k.leased_micros), key_leases.get(ident, 0))
        elsewhere = _elsewhere(differences, held, "k", "key", ident, name)
        if k.budget_micros is not None:
            counted = counted_spend(
                lifetime=int(k.spent_micros),
                period=k.budget_period,
                period_spent=int(k.period_spent_micros or 0),
                period_started=as_utc(k.period_started_at),
                now=now,
            )
            left = int(k.budget_micros) - counted - int(k.leased_micros) - elsewhere
            if left < 0:
                differences.append(Difference("key", ident, name, "negative", left, 0))
    return LedgerReport(len(account_rows), len(key_rows), differences)


def _compare(
    out: list[Difference], subject: str, ident: int, name: str, check: str, stored: int, expected: int
) -> None:
    if stored != expected:
        out.append(Difference(subject, ident, name, check, stored, expected))


def _elsewhere(
    out: list[Difference], held: OutsideHolds, kind: str, subject: str, ident: int, name: str
) -> int:
    """The subject's leases kept outside the database (0: none), checked against its holders'."""
    found = held.get((kind, ident))
    if found is None:
        return 0
    _compare(out, subject, ident, name, "redis_leased", found.recorded, found.holders)
    return max(found.recorded, found.holders)
