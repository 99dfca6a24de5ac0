"""Daily roll-ups kept current: each usage batch is added to `usage_daily` in the
transaction that inserts its rows (and moves the counters), so the roll-ups always
equal the log they summarize and reports over long ranges read them, not the log.

One upsert per (UTC day, key, account, model, channel) in the batch, and one per
(UTC day, model, channel) into `usage_daily_models`; a busy batch of hundreds of
rows folds into a handful. Groups are written in one sorted order, so
writers on different replicas lock the same rows in the same order (no deadlocks).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from hubgate.storage.driver import in_transaction
from hubgate.storage.tables import ROLLUP_SUMS, usage_daily, usage_daily_models

GROUP = ("day", "key_id", "key_name", "account_id", "model", "channel")
SUMS = ROLLUP_SUMS  # requests, errors, then TOKENS
TOKENS = SUMS[2:]  # the token and cost sums, also columns of the log

Group = tuple[str, int, str, int, str, str]


def utc_day(value: datetime) -> str:
    """The UTC calendar day of a timestamp (naive ones are UTC already)."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d")


_GROUP_OF = attrgetter("key_id", "key_name", "account_id", "model", "channel")
_SUMS_OF = attrgetter(*TOKENS)  # the row's token and cost columns, read in C


def fold(rows: Iterable[Any]) -> dict[Group, list[int]]:
    """Usage rows summed per roll-up group: requests, errors, then the token and cost sums.
    Per row only the group is looked up and the sums' tuple kept (both read in C); each
    group's columns are summed at the end, in C too."""
    days: dict[date, str] = {}  # a batch spans a second or so: one isoformat per distinct date
    kept: dict[tuple[str, tuple[Any, ...]], list[tuple[int, ...]]] = {}
    errors: dict[tuple[str, tuple[Any, ...]], int] = {}
    for r in rows:
        created = r.created_at
        tz = created.tzinfo
        if tz is None or tz is UTC:
            on = created.date()
            day = days.get(on) or days.setdefault(on, on.isoformat())
        else:
            day = utc_day(created)
        grain = (day, _GROUP_OF(r))
        bucket = kept.get(grain)
        if bucket is None:
            bucket = kept[grain] = []
        bucket.append(_SUMS_OF(r))
        if r.status >= 400:
            errors[grain] = errors.get(grain, 0) + 1
    out: dict[Group, list[int]] = {}
    for grain, bucket in kept.items():
        day, (key_id, key_name, account_id, model, channel) = grain
        group = (day, key_id or 0, key_name or "", account_id or 0, model or "", channel or "")
        sums = [len(bucket), errors.get(grain, 0), *map(sum, zip(*bucket, strict=True))]
        have = out.get(group)  # None and "" (or 0) fold into one group
        if have is None:
            out[group] = sums
        else:
            out[group] = [a + b for a, b in zip(have, sums, strict=True)]
    return out


def coarser(folded: dict[Group, list[int]]) -> dict[tuple[str, str, str], list[int]]:
    """The same sums per (day, model, channel): key and account summed away."""
    out: dict[tuple[str, str, str], list[int]] = {}
    for (day, _kid, _kname, _aid, model, channel), sums in folded.items():
        have = out.get((day, model, channel))
        if have is None:
            out[(day, model, channel)] = list(sums)
        else:
            for i, value in enumerate(sums):
                have[i] += value
    return out


def _upserts(table: Table) -> tuple[str, str]:
    """The SQLite and PostgreSQL upserts of one roll-up row into `table` (keyed on its grain)."""
    grain = [c.name for c in table.primary_key.columns]
    names = ", ".join((*grain, *SUMS))
    conflict = f"ON CONFLICT ({', '.join(grain)}) DO UPDATE SET " + ", ".join(
        f"{name} = {table.name}.{name} + excluded.{name}" for name in SUMS
    )
    n = len(grain) + len(SUMS)
    sqlite = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * n)}) {conflict}"
    pg = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join(f'${i + 1}' for i in range(n))}) {conflict}"
    return sqlite, pg


_UPSERTS = {table.name: _upserts(table) for table in (usage_daily, usage_daily_models)}


def _params(rows: Iterable[Any]) -> list[tuple[Table, list[tuple[Any, ...]]]]:
    """Each roll-up table's upsert parameters for the rows, in the one sorted order."""
    folded = fold(rows)
    if not folded:
        return []
    return [
        (table, [(*group, *sums) for group, sums in sorted(groups.items())])
        for table, groups in ((usage_daily, folded), (usage_daily_models, coarser(folded)))
    ]


def sqlite_upserts(rows: Iterable[Any]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """`add_batch`'s statements as SQLite text and parameters (storage/sqlite_batch.py)."""
    return [(_UPSERTS[table.name][0], params) for table, params in _params(rows)]


async def add_batch(conn: AsyncConnection, rows: Iterable[Any]) -> None:
    """Add the rows' sums to their days' roll-ups, inside the caller's transaction: per key
    (`usage_daily`) and per model and channel only (`usage_daily_models`, for reports that
    neither filter nor group by key or account)."""
    for table, params in _params(rows):
        await _upsert(conn, table, params)


async def _upsert(conn: AsyncConnection, table: Table, params: list[tuple[Any, ...]]) -> None:
    """Like the log rows, sent through the driver's own executemany on the connection that
    holds SQLAlchemy's transaction (SQLAlchemy's upsert cost ~2 ms a batch); other drivers
    take SQLAlchemy's path."""
    driver = await in_transaction(conn)
    if driver is not None:
        sqlite_sql, pg_sql = _UPSERTS[table.name]
        await driver.executemany(sqlite_sql if conn.dialect.name == "sqlite" else pg_sql, params)
        return
    grain = [c.name for c in table.primary_key.columns]
    # The dialect's own module, imported here: SQLAlchemy's PostgreSQL one costs a worker on
    # SQLite ~2 MB, and this path (no driver connection) is the rare one.
    stmt: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=grain, set_={name: table.c[name] + stmt.excluded[name] for name in SUMS}
    )
    await conn.execute(stmt, [dict(zip((*grain, *SUMS), p, strict=True)) for p in params])
