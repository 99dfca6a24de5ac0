"""Usage log: insert-only rows, written in batches by a background task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import DateTime, String, bindparam, case, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hubgate.metering.budget import period_start
from hubgate.storage.driver import in_transaction
from hubgate.storage.keys import utcnow
from hubgate.storage.rollup import add_batch
from hubgate.storage.tables import accounts, api_keys, usage_logs

log = logging.getLogger("hubgate.usage")

# Text columns and their widths. A caller's model name can be any length: clipped to fit, a
# long one cannot make PostgreSQL refuse the batch (and so every row queued behind it).
_WIDTHS = tuple(
    (c.name, c.type.length) for c in usage_logs.columns if isinstance(c.type, String) and c.type.length
)


@dataclass(slots=True)
class UsageRow:
    request_id: str
    endpoint: str
    status: int
    stream: bool
    key_id: int | None = None
    key_name: str | None = None
    model: str | None = None
    upstream_model: str | None = None
    channel: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_micros: int = 0
    latency_ms: int = 0
    ttfb_ms: int | None = None
    attempts: int = 0
    error: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    account_id: int | None = None
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    cache_write_1h_tokens: int = 0  # priced apart; part of cache_write_tokens (not a column)
    units: int = 0  # images, audio seconds, search units, video seconds: each priced at per_request
    unit: str | None = None  # what `units` counts: image | second | search_unit | character | video_second


class UsageWriter:
    """Collects rows in memory and inserts them in batches, off the request path.

    `record` never awaits. A failed insert keeps its rows for the next attempt (up to
    `max_pending`), and `close` flushes whatever is left, so a graceful shutdown
    loses nothing.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch_size: int = 500,
        interval_s: float = 1.0,
        max_pending: int = 200_000,
        on_flushed: Callable[[list[UsageRow]], None] | None = None,
    ) -> None:
        self._engine = engine
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._max_pending = max_pending
        self._on_flushed = on_flushed
        self._pending: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.written = 0
        self.dropped = 0

    def record(self, row: UsageRow) -> None:
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            log.error("usage log backlog full (%d rows); dropping a row", self._max_pending)
            return
        for name, width in _WIDTHS:
            value = getattr(row, name)
            if value is not None and len(value) > width:
                setattr(row, name, value[:width])
        self._pending.append(row)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)
            self._wake.clear()
            try:
                await self.flush()
                failures = 0
            except Exception:
                failures += 1
                log.exception("usage log flush failed; %d rows kept for retry", len(self._pending))
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))

    async def flush(self) -> None:
        # One flush at a time: the background task and close() (or a test) may both
        # call this, and each batch must be inserted exactly once.
        async with self._flush_lock:
            while self._pending:
                batch = self._pending[: self._batch_size]
                async with self._engine.begin() as conn:
                    # The counters move in the same transaction as the rows that justify
                    # them: spent == sum(costs) and balance == credits - sum(costs), always.
                    # (Counters first: on PostgreSQL that usually opens the transaction
                    # the rows' COPY then joins.)
                    await _move_counters(conn, batch)
                    await _insert_rows(conn, batch)
                    await add_batch(conn, batch)  # the daily roll-ups, in the same transaction
                # Remove only after the insert committed: a failure keeps the rows.
                # Rows recorded meanwhile were appended, so the batch is still in front.
                del self._pending[: len(batch)]
                self.written += len(batch)
                if self._on_flushed is not None:
                    self._on_flushed(batch)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()


# The row's fields that are columns (cache_write_1h_tokens only prices a row), with
# created_at last so the SQLite path can append its text form to the other values.
_COLUMNS = (
    *(f.name for f in fields(UsageRow) if f.name not in ("cache_write_1h_tokens", "created_at")),
    "created_at",
)
_values = attrgetter(*_COLUMNS)  # one row's column values as a tuple, read in C
_values_but_created = attrgetter(*_COLUMNS[:-1])
_NAMES = ", ".join(_COLUMNS)
_SQLITE_INSERT = f"INSERT INTO usage_logs ({_NAMES}) VALUES ({', '.join('?' for _ in _COLUMNS)})"


def _columns(row: UsageRow) -> dict[str, Any]:
    """A shallow read of the column fields: `asdict` deep-copies and showed in profiles."""
    return dict(zip(_COLUMNS, _values(row), strict=True))


def sqlite_datetime(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite DateTime stores it ('YYYY-MM-DD HH:MM:SS.ffffff',
    wall time, no offset), so rows written here compare and read back like any other."""
    return value.isoformat(" ", "microseconds")[:26]


async def _insert_rows(conn: AsyncConnection, batch: list[UsageRow]) -> None:
    """The batch's rows, in the transaction of `conn`, at the driver's cheapest.

    SQLAlchemy's executemany builds and processes one parameter dict per row (20 us a
    row on SQLite, 12 on PostgreSQL in bench/usage_writer.py). Here each row is one
    tuple read in C: on aiosqlite one executemany, one thread hop per batch; on asyncpg
    one COPY. Both run on the connection SQLAlchemy's transaction holds, so the rows
    still commit or roll back with the counter updates. Other drivers take the generic path.
    """
    driver = await in_transaction(conn)
    if driver is None:
        await conn.execute(insert(usage_logs), [_columns(r) for r in batch])
    elif conn.dialect.name == "sqlite":
        params = [(*_values_but_created(r), sqlite_datetime(r.created_at)) for r in batch]
        await driver.executemany(_SQLITE_INSERT, params)
    else:
        records = list(map(_values, batch))
        await driver.copy_records_to_table("usage_logs", records=records, columns=_COLUMNS)


async def _move_counters(conn: AsyncConnection, batch: list[UsageRow]) -> None:
    keys: dict[int, int] = defaultdict(int)
    accounts_: dict[int, int] = defaultdict(int)
    for row in batch:
        if row.cost_micros:
            if row.key_id is not None:
                keys[row.key_id] += row.cost_micros
            if row.account_id is not None:
                accounts_[row.account_id] += row.cost_micros
    if keys:
        now = utcnow()
        k = api_keys.c
        ts = DateTime(timezone=True)
        started = case(
            (k.budget_period == "daily", bindparam("day", type_=ts)),
            (k.budget_period == "weekly", bindparam("week", type_=ts)),
            (k.budget_period == "monthly", bindparam("month", type_=ts)),
            else_=None,
        )
        stmt = (
            update(api_keys)
            .where(k.id == bindparam("kid"))
            .values(
                spent_micros=k.spent_micros + bindparam("delta"),
                period_spent_micros=case(
                    (k.budget_period.is_(None), k.period_spent_micros + bindparam("delta")),
                    (
                        or_(k.period_started_at.is_(None), k.period_started_at < started),
                        bindparam("delta"),
                    ),
                    else_=k.period_spent_micros + bindparam("delta"),
                ),
                period_started_at=started,
            )
        )
        bounds = {p: period_start(p, now) for p in ("daily", "weekly", "monthly")}
        params = [
            {
                "kid": kid,
                "delta": keys[kid],
                "day": bounds["daily"],
                "week": bounds["weekly"],
                "month": bounds["monthly"],
            }
            for kid in sorted(keys)  # one lock order for every writer: no deadlocks between replicas
        ]
        await conn.execute(stmt, params)
    if accounts_:
        a = accounts.c
        stmt_a = (
            update(accounts)
            .where(a.id == bindparam("aid"))
            .values(balance_micros=a.balance_micros - bindparam("delta"))
        )
        await conn.execute(stmt_a, [{"aid": aid, "delta": accounts_[aid]} for aid in sorted(accounts_)])
