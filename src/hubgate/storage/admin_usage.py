"""Usage reports: spend, tokens, requests and errors grouped by key, model, channel and day,
and the raw usage rows, newest first.

Days are UTC calendar days on both backends: SQLite stores UTC text (`date()` cuts
it), PostgreSQL converts the timestamptz to UTC before cutting, whatever the
session's TimeZone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import as_utc
from hubgate.storage.tables import api_keys, usage_daily, usage_logs

GROUP_FIELDS = ("key", "model", "channel", "day", "account")
_SUMS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_micros",
)


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """Which usage rows a report covers; None means any."""

    key: str | None = None
    model: str | None = None
    channel: str | None = None
    status: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    account_id: int | None = None
    key_id: int | None = None  # set from `key` by `_by_id`


async def _by_id(conn: Any, flt: UsageFilter) -> UsageFilter:
    """A filter on a key's name becomes one on its id, which the (key_id, created_at) index
    serves: no index covers key_name, and scanning a large log for it took seconds."""
    if flt.key is None or flt.key_id is not None:
        return flt
    found = (await conn.execute(select(api_keys.c.id).where(api_keys.c.name == flt.key))).scalar_one_or_none()
    return replace(flt, key_id=found) if found is not None else flt


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """One group of a report; the fields not grouped by are None."""

    key: str | None
    model: str | None
    channel: str | None
    day: str | None  # YYYY-MM-DD, UTC
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_micros: int
    account: int | None = None  # the account id, when grouped by account

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _utc(value: datetime) -> datetime:
    # SQLite compares timestamps as UTC text, so a bound value must be UTC too.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def day_of(dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day (YYYY-MM-DD) of a usage row, on either backend."""
    created = usage_logs.c.created_at
    if dialect == "postgresql":
        # Literal columns, not bound parameters: GROUP BY must repeat the exact expression.
        utc = func.timezone(literal_column("'UTC'"), created)
        return func.to_char(utc, literal_column("'YYYY-MM-DD'"))
    return func.date(created)


def _where(query: Any, flt: UsageFilter) -> Any:
    t = usage_logs.c
    if flt.key_id is not None:
        query = query.where(t.key_id == flt.key_id)
    elif flt.key is not None:
        query = query.where(t.key_name == flt.key)
    if flt.account_id is not None:
        query = query.where(t.account_id == flt.account_id)
    if flt.model is not None:
        query = query.where(t.model == flt.model)
    if flt.channel is not None:
        query = query.where(t.channel == flt.channel)
    if flt.status is not None:
        query = query.where(t.status == flt.status)
    if flt.since is not None:
        query = query.where(t.created_at >= _utc(flt.since))
    if flt.until is not None:
        query = query.where(t.created_at < _utc(flt.until))
    return query


def _measures() -> list[ColumnElement[Any]]:
    t = usage_logs.c
    return [
        func.count().label("requests"),
        func.coalesce(func.sum(case((t.status >= 400, 1), else_=0)), 0).label("errors"),
        *(func.coalesce(func.sum(t[name]), 0).label(name) for name in _SUMS),
    ]


def _group(row: Any, grouped: Sequence[str]) -> UsageGroup:
    m = row._mapping
    day = m.get("day") if "day" in grouped else None
    return UsageGroup(
        key=m["key"] if "key" in grouped else None,
        model=m["model"] if "model" in grouped else None,
        channel=m["channel"] if "channel" in grouped else None,
        day=str(day) if day is not None else None,
        account=m["account"] if "account" in grouped else None,
        requests=int(m["requests"]),
        errors=int(m["errors"]),
        **{name: int(m[name]) for name in _SUMS},
    )


async def aggregate(
    engine: AsyncEngine, group_by: Sequence[str], flt: UsageFilter, *, limit: int = 10_000
) -> tuple[list[UsageGroup], UsageGroup]:
    """The groups (ordered by the grouping fields) and the totals over every matching row."""
    unknown = [g for g in group_by if g not in GROUP_FIELDS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)}")
    t = usage_logs.c
    columns = {
        "key": t.key_name,
        "model": t.model,
        "channel": t.channel,
        "day": day_of(engine.dialect.name),
        "account": t.account_id,
    }
    keys = [columns[g] for g in group_by]
    async with engine.connect() as conn:
        flt = await _by_id(conn, flt)
        query = _where(select(*(c.label(g) for c, g in zip(keys, group_by, strict=True)), *_measures()), flt)
        if keys:
            query = query.group_by(*keys).order_by(*(k.asc().nulls_last() for k in keys)).limit(limit)
        totals_query = _where(select(*_measures()), flt)
        rows = (await conn.execute(query)).all() if keys else []
        totals = (await conn.execute(totals_query)).one()
        rolled = await _rolled_up(conn, group_by, flt)
    groups = [_group(r, group_by) for r in rows]
    if rolled:  # days the retention job rolled up are still in every report
        total = _group(totals, ())
        for g in rolled:
            total = _add(total, g)
        return _merge(groups, rolled)[:limit], total
    return groups, _group(totals, ())


async def _rolled_up(conn: Any, group_by: Sequence[str], flt: UsageFilter) -> list[UsageGroup]:
    """The same report over `usage_daily` (day-granular; rows carry no status)."""
    if flt.status is not None:
        return []
    d = usage_daily.c
    columns = {
        "key": d.key_name,
        "model": d.model,
        "channel": d.channel,
        "day": d.day,
        "account": d.account_id,
    }
    query = select(
        *(columns[g].label(g) for g in group_by),
        func.coalesce(func.sum(d.requests), 0).label("requests"),
        func.coalesce(func.sum(d.errors), 0).label("errors"),
        *(func.coalesce(func.sum(d[name]), 0).label(name) for name in _SUMS),
    )
    for name, value in (
        ("key", flt.key), ("model", flt.model), ("channel", flt.channel), ("account", flt.account_id),
    ):  # fmt: skip
        if value is not None:
            query = query.where(columns[name] == value)
    if flt.since is not None:
        query = query.where(d.day >= _utc(flt.since).strftime("%Y-%m-%d"))
    if flt.until is not None:
        query = query.where(d.day < _utc(flt.until).strftime("%Y-%m-%d"))
    if group_by:
        query = query.group_by(*(columns[g] for g in group_by))
    found = [_group(r, group_by) for r in (await conn.execute(query)).all()]
    return [g for g in found if g.requests]


def _ident(g: UsageGroup) -> tuple[str | None, ...]:
    return (g.key, g.model, g.channel, g.day, None if g.account is None else str(g.account))


def _add(a: UsageGroup, b: UsageGroup) -> UsageGroup:
    return UsageGroup(
        key=a.key, model=a.model, channel=a.channel, day=a.day, account=a.account,
        requests=a.requests + b.requests, errors=a.errors + b.errors,
        **{name: getattr(a, name) + getattr(b, name) for name in _SUMS},
    )  # fmt: skip


def _merge(live: list[UsageGroup], rolled: list[UsageGroup]) -> list[UsageGroup]:
    merged: dict[tuple[str | None, ...], UsageGroup] = {_ident(g): g for g in live}
    for g in rolled:
        ident = _ident(g)
        merged[ident] = _add(merged[ident], g) if ident in merged else g
    return sorted(merged.values(), key=lambda g: tuple((v is None, v or "") for v in _ident(g)))


async def logs_page(
    engine: AsyncEngine, flt: UsageFilter, *, limit: int, cursor: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """Usage rows newest first, keyset-paged by id; returns the rows and the next cursor."""
    t = usage_logs.c
    async with engine.connect() as conn:
        query = _where(select(usage_logs), await _by_id(conn, flt)).order_by(t.id.desc()).limit(limit + 1)
        if cursor is not None:
            query = query.where(t.id < cursor)
        rows = (await conn.execute(query)).all()
    out = []
    for r in rows[:limit]:
        row = {str(k): v for k, v in r._mapping.items()}  # keys are quoted_name, a str subclass
        row["created_at"] = as_utc(row["created_at"])
        out.append(row)
    return out, (int(out[-1]["id"]) if len(rows) > limit else None)
