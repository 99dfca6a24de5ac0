"""Usage reports: spend, tokens, requests and errors grouped by key, model, channel and day,
and the raw usage rows, newest first.

Days are UTC calendar days on both backends: SQLite stores UTC text (`date()` cuts
it), PostgreSQL converts the timestamptz to UTC before cutting, whatever the
session's TimeZone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import as_utc
from hubgate.storage.rollup import SUMS, TOKENS
from hubgate.storage.tables import api_keys, usage_daily, usage_daily_models, usage_logs

GROUP_FIELDS = ("key", "model", "channel", "day", "account")
_SUMS = TOKENS  # the token and cost sums, on log rows and roll-ups alike


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
    account_ids: tuple[int, ...] | None = None  # any of these accounts (an empty tuple: none)


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


def _match(query: Any, c: Any, flt: UsageFilter) -> Any:
    """The filters on who and what (key, account, model, channel), on the columns `c` of the
    log or of a roll-up table (one without key or account is only used when none is asked)."""
    if flt.key_id is not None:
        query = query.where(c.key_id == flt.key_id)
    elif flt.key is not None:
        query = query.where(c.key_name == flt.key)
    if flt.account_id is not None:
        query = query.where(c.account_id == flt.account_id)
    if flt.account_ids is not None:
        query = query.where(c.account_id.in_(flt.account_ids))
    if flt.model is not None:
        query = query.where(c.model == flt.model)
    if flt.channel is not None:
        query = query.where(c.channel == flt.channel)
    return query


def _where(query: Any, flt: UsageFilter) -> Any:
    t = usage_logs.c
    query = _match(query, t, flt)
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
    """One result row as a group; `row` None is the empty group (all zeros)."""
    m: Any = row._mapping if row is not None else dict.fromkeys(SUMS, 0)
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
    """The groups (ordered by the grouping fields) and the totals over every matching row.

    Whole UTC days come from the daily roll-ups (kept current by the usage writer, so
    they include today); the log is read only for the part-days at either end of the
    range, and for reports by status, which the roll-ups don't keep.
    """
    unknown = [g for g in group_by if g not in GROUP_FIELDS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)}")
    dialect = engine.dialect.name
    parts: list[tuple[list[UsageGroup], UsageGroup]] = []
    async with engine.connect() as conn:
        flt = await _by_id(conn, flt)
        if flt.status is not None:
            parts.append(await _from_log(conn, dialect, group_by, flt, limit))
        else:
            days, edges = split_days(flt.since, flt.until)
            if days is not None:
                parts.append(await _from_daily(conn, group_by, flt, days, limit))
            for since, until in edges:
                part = replace(flt, since=since, until=until)
                parts.append(await _from_log(conn, dialect, group_by, part, limit))
    if len(parts) == 1:
        return parts[0]
    total = _group(None, ())
    groups: list[UsageGroup] = []
    for part_groups, part_total in parts:
        total = _add(total, part_total)
        groups = _merge(groups, part_groups)
    return groups[:limit], total


def _midnight(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def split_days(
    since: datetime | None, until: datetime | None
) -> tuple[tuple[str | None, str | None] | None, list[tuple[datetime, datetime]]]:
    """[since, until) as whole UTC days (first day, day after the last; None: open) and
    the part-days at its ends, to be read from the log."""
    lo = _utc(since) if since is not None else None
    hi = _utc(until) if until is not None else None
    first = None if lo is None else lo if lo == _midnight(lo) else _midnight(lo) + timedelta(days=1)
    end = None if hi is None else _midnight(hi)
    if (
        lo is not None
        and hi is not None
        and (lo >= hi or (first is not None and end is not None and first >= end))
    ):
        return None, [(lo, hi)]  # within one day (or empty): the log alone
    edges = []
    if lo is not None and first is not None and lo < first:
        edges.append((lo, first))
    if hi is not None and end is not None and end < hi:
        edges.append((end, hi))
    day = "%Y-%m-%d"
    return (first.strftime(day) if first else None, end.strftime(day) if end else None), edges


async def _from_log(
    conn: Any, dialect: str, group_by: Sequence[str], flt: UsageFilter, limit: int
) -> tuple[list[UsageGroup], UsageGroup]:
    t = usage_logs.c
    columns = {
        "key": t.key_name,
        "model": t.model,
        "channel": t.channel,
        "day": day_of(dialect),
        "account": t.account_id,
    }
    return await _report(conn, columns, _measures(), lambda q: _where(q, flt), group_by, limit)


async def _from_daily(
    conn: Any,
    group_by: Sequence[str],
    flt: UsageFilter,
    days: tuple[str | None, str | None],
    limit: int,
) -> tuple[list[UsageGroup], UsageGroup]:
    """The report over whole days of the roll-ups (0 and '' there stand for none): those by
    model and channel alone when the report involves no key or account, else those by key."""
    by_key = flt.key is not None or flt.key_id is not None
    by_key = by_key or flt.account_id is not None or flt.account_ids is not None
    by_key = by_key or not set(group_by) <= {"model", "channel", "day"}
    d = (usage_daily if by_key else usage_daily_models).c
    columns: dict[str, ColumnElement[Any]] = {
        "model": func.nullif(d.model, ""),
        "channel": func.nullif(d.channel, ""),
        "day": d.day,
    }
    if by_key:
        columns.update(key=func.nullif(d.key_name, ""), account=func.nullif(d.account_id, 0))
    measures = [func.coalesce(func.sum(d[name]), 0).label(name) for name in SUMS]

    def where(query: Any) -> Any:
        query = _match(query, d, flt)
        first, end = days
        if first is not None:
            query = query.where(d.day >= first)
        if end is not None:
            query = query.where(d.day < end)
        return query

    return await _report(conn, columns, measures, where, group_by, limit)


async def _report(
    conn: Any,
    columns: dict[str, ColumnElement[Any]],
    measures: Sequence[ColumnElement[Any]],
    where: Callable[[Any], Any],
    group_by: Sequence[str],
    limit: int,
) -> tuple[list[UsageGroup], UsageGroup]:
    """The groups (ordered by the grouping fields, at most `limit`) and the totals of one
    source: `columns` names each grouping field, `where` filters a query on that source."""
    keys = [columns[g] for g in group_by]
    rows = []
    if keys:
        query = where(select(*(c.label(g) for c, g in zip(keys, group_by, strict=True)), *measures))
        query = query.group_by(*keys).order_by(*(k.asc().nulls_last() for k in keys)).limit(limit)
        rows = (await conn.execute(query)).all()
    totals = (await conn.execute(where(select(*measures)))).one()
    return [_group(r, group_by) for r in rows], _group(totals, ())


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
