"""Usage log: insert-only rows, written in batches by a background task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, bindparam, case, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hubgate.metering.budget import period_start
from hubgate.storage.db import sqlite_pragmas
from hubgate.storage.driver import in_transaction
from hubgate.storage.keys import utcnow
from hubgate.storage.quarantine import error_text, lock_conflict, quarantine, row_fault
from hubgate.storage.rollup import add_batch, sqlite_upserts
from hubgate.storage.sqlite_batch import CancelledAfterCommit, SqliteBatches, Statement
from hubgate.storage.storable import make_storable
from hubgate.storage.tables import accounts, api_keys, usage_logs, usage_quarantine

if TYPE_CHECKING:
    from hubgate.storage.journal import Journal

log = logging.getLogger("hubgate.usage")
PROVISIONAL = "p"  # the journal's kind for a record a later one replaces (storage/journal.py)
ROWS_PER_TURN = 100  # a flush turns usage rows into SQLite parameters this many at a time


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
    # Book-keeping, not columns: the journal segment counting the row, when it was queued,
    # and whether the database refused it (its cost then never reached the counters).
    journal_segment: int = 0
    queued_at: float = 0.0
    quarantined: bool = False


class UsageWriter:
    """Collects rows in memory and inserts them in batches, off the request path.

    `record` never awaits: it makes the row's text storable, appends it to the journal
    (when there is one) and queues it. A batch the database refuses is split in halves
    until the refused rows stand alone; each goes to the quarantine table with its
    error, and the rest land. A failure of the database itself (down, locked) keeps the
    batch for the next attempt (up to `max_pending`), and `close` flushes whatever is
    left, so a graceful shutdown loses nothing.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch_size: int = 500,
        interval_s: float = 1.0,
        max_pending: int = 200_000,
        on_flushed: Callable[[list[UsageRow]], None] | None = None,
        on_flushing: Callable[[], None] | None = None,
        on_quarantined: Callable[[int], None] | None = None,
        journal: Journal | None = None,
    ) -> None:
        self._engine = engine
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._max_pending = max_pending
        self._on_flushed = on_flushed
        # Called before each batch's transaction: what a cache stores from then on may
        # already count the batch, so `on_flushed` must not move it by the batch again.
        self._on_flushing = on_flushing
        self._on_quarantined = on_quarantined
        self.journal = journal
        self._pending: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # A SQLite file: each flush is one transaction in a thread of its own (sqlite_batch.py).
        self._sqlite = SqliteBatches.for_engine(engine, sqlite_pragmas)
        self.written = 0
        self.dropped = 0
        self.quarantined = 0

    def record(self, row: UsageRow) -> None:
        make_storable(row)
        if self.journal is not None:
            # Journaled even when the backlog is full: a later start replays it.
            row.journal_segment = self.journal.append(row)
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            log.error("usage log backlog full (%d rows); dropping a row", self._max_pending)
            return
        row.queued_at = time.monotonic()
        self._pending.append(row)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def provisional(self, row: UsageRow) -> None:
        """Journal what is known of an answer whose usage is still being worked out; its
        `record` follows (and replaces this one on replay)."""
        if self.journal is not None:
            make_storable(row)
            self.journal.append(row, PROVISIONAL)

    @property
    def fsync_each(self) -> bool:
        """Whether each answer waits for its record's fdatasync (`usage_journal_fsync: always`)."""
        return self.journal is not None and self.journal.fsync == "always"

    async def durable(self) -> None:
        """Return once the journaled records survive a power cut (fsync `always`), else at once."""
        if self.journal is not None:
            await self.journal.durable()  # at once unless fsync `always`

    @property
    def pending(self) -> int:
        return len(self._pending)

    def lag_s(self) -> float:
        """How long the oldest row not yet in the database has waited (0 when none)."""
        pending = self._pending
        return max(0.0, time.monotonic() - pending[0].queued_at) if pending else 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def _run(self) -> None:
        failures, again = 0, False
        while not self._closing:
            # Woken by a full batch, the writer writes full batches only: the rows recorded
            # while one was written wait for the next full one or until the oldest has
            # waited the interval, instead of a tail of small transactions that cost as much
            # each (under load the writer was never out of one, and the journal turned a
            # segment for each).
            full_only = False
            if not again:
                wait = self._interval_s - self.lag_s() if self._pending else self._interval_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, wait))
                    full_only = True
            self._wake.clear()
            again = False
            try:
                await self.flush(full_only=full_only and not self._closing)
                failures = 0
            except Exception as exc:
                if lock_conflict(exc):  # the loser of a lock conflict: go again, no back-off
                    log.warning("usage log flush lost a lock conflict; retrying: %s", exc)
                    again = True
                    continue
                failures += 1
                log.exception("usage log flush failed; %d rows kept for retry", len(self._pending))
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))

    async def flush(self, *, full_only: bool = False) -> None:
        """Write the rows pending now (`full_only`: their full batches); rows recorded
        meanwhile wait for the next flush. Draining those too kept the writer in a tail
        of small transactions for as long as the load lasted, each costing the same round
        trips (and a journal segment) as a full one."""
        # One flush at a time: the background task and close() (or a test) may both
        # call this, and each batch must be inserted exactly once.
        async with self._flush_lock:
            todo = len(self._pending)
            if full_only:
                todo -= todo % self._batch_size
            if not todo:
                return
            if self.journal is not None:
                self.journal.rotate()  # rows recorded from now on go to a new segment
            while todo > 0:
                batch = self._pending[: min(todo, self._batch_size)]
                todo -= len(batch)
                done: list[UsageRow] = []  # landed or quarantined
                try:
                    if self._on_flushing is not None:
                        self._on_flushing()
                    await self._land(batch, done)
                except BaseException:
                    if done:  # a split batch failed part way: what landed must not land twice
                        gone = {id(r) for r in done}
                        self._pending = [r for r in self._pending if id(r) not in gone]
                        self._settled(done)
                    raise
                # Rows recorded meanwhile were appended, so the batch is still in front.
                del self._pending[: len(batch)]
                self._settled(done)
            if self.journal is not None:
                await self.journal.sweep()  # the segments that landed, deleted off the event loop

    async def _land(self, batch: list[UsageRow], done: list[UsageRow]) -> None:
        """Insert the batch; if the database refuses its data, split it to find the rows at
        fault and quarantine them. A failure of the database itself propagates."""
        try:
            await self._insert(batch)
        except CancelledAfterCommit:  # cancelled, but the rows are in: they must not go in again
            self.written += len(batch)
            done += batch
            raise
        except Exception as exc:
            if not row_fault(exc):
                raise
            if len(batch) > 1:
                half = len(batch) // 2
                await self._land(batch[:half], done)
                await self._land(batch[half:], done)
                return
            log.error("usage row %s refused by the database; quarantined: %s", batch[0].request_id, exc)
            await quarantine(self._engine, batch[0], error_text(exc))
            batch[0].quarantined = True
            self.quarantined += 1
            if self._on_quarantined is not None:
                self._on_quarantined(1)
        else:
            self.written += len(batch)
        done += batch

    async def _insert(self, batch: list[UsageRow]) -> None:
        if self._sqlite is not None:  # the same statements, in the same order, in one trip
            # The parameters are made ROWS_PER_TURN rows at a time, the event loop serving
            # requests in between: a full batch at once (500 rows, 2-4 ms on a loaded 2-core
            # machine) held up every request in flight.
            rows: list[tuple[Any, ...]] = []
            for start in range(0, len(batch), ROWS_PER_TURN):
                if start:
                    await asyncio.sleep(0)
                rows += _sqlite_rows(batch[start : start + ROWS_PER_TURN])
            inserts = self._sqlite.inserts(_SQLITE_INSERT, len(_COLUMNS), rows)
            await self._sqlite.run(inserts, lambda: _sqlite_rest(batch))
            return
        async with self._engine.begin() as conn:
            # The counters move in the same transaction as the rows that justify
            # them: spent == sum(costs) and balance == credits - sum(costs), always.
            # The rows go first (they lock nothing another writer waits for), the
            # shared rows last, so the locks are held for the fewest round trips:
            # the day's roll-ups, then the accounts, then the keys. That is the order
            # of every transaction taking more than one of them (storage/leases.py
            # takes an account's row before a key's): a writer in another process
            # never holds one while waiting for another a second writer holds.
            await _insert_rows(conn, batch)
            await add_batch(conn, batch)
            await _move_counters(conn, batch)

    def _settled(self, done: list[UsageRow]) -> None:
        if self.journal is not None:
            counts: dict[int, int] = defaultdict(int)
            for row in done:
                counts[row.journal_segment] += 1
            self.journal.landed(counts)
        if self._on_flushed is not None:
            # Quarantined rows too: their costs leave the in-memory pending sums.
            self._on_flushed(done)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            while self._pending:  # rows recorded during the last flush too
                await self.flush()
        finally:
            if self._sqlite is not None:
                await self._sqlite.close()
            if self.journal is not None:
                await self.journal.close()


async def stored_ids(engine: AsyncEngine, ids: list[str]) -> set[str]:
    """Which of these request ids already have a usage row (or a quarantined one)."""
    found: set[str] = set()
    async with engine.connect() as conn:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for column in (usage_logs.c.request_id, usage_quarantine.c.request_id):
                found.update((await conn.execute(select(column).where(column.in_(chunk)))).scalars())
    return found


# The row's fields that are columns (cache_write_1h_tokens only prices a row), with
# created_at last so the SQLite path can append its text form to the other values.
_NOT_COLUMNS = ("cache_write_1h_tokens", "created_at", "journal_segment", "queued_at", "quarantined")
_COLUMNS = (*(f.name for f in fields(UsageRow) if f.name not in _NOT_COLUMNS), "created_at")
COLUMNS = _COLUMNS
_values = attrgetter(*_COLUMNS)  # one row's column values as a tuple, read in C
row_values = _values
_values_but_created = attrgetter(*_COLUMNS[:-1])
_NAMES = ", ".join(_COLUMNS)
_SQLITE_INSERT = f"INSERT INTO usage_logs ({_NAMES}) VALUES ({', '.join('?' for _ in _COLUMNS)})"


def _columns(row: UsageRow) -> dict[str, Any]:
    """A shallow read of the column fields: `asdict` deep-copies and showed in profiles."""
    return dict(zip(_COLUMNS, _values(row), strict=True))


def _sqlite_rows(batch: list[UsageRow]) -> list[tuple[Any, ...]]:
    """The rows' column values for SQLite's insert: created_at last, as its text."""
    return [(*_values_but_created(r), sqlite_datetime(r.created_at)) for r in batch]


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
        await driver.executemany(_SQLITE_INSERT, _sqlite_rows(batch))
    else:
        records = list(map(_values, batch))
        await driver.copy_records_to_table("usage_logs", records=records, columns=_COLUMNS)


def _key_counters_statement() -> Any:
    """Add `delta` to a key's spend, restarting its period's spend when the period turned."""
    k = api_keys.c
    ts = DateTime(timezone=True)
    started = case(
        (k.budget_period == "daily", bindparam("day", type_=ts)),
        (k.budget_period == "weekly", bindparam("week", type_=ts)),
        (k.budget_period == "monthly", bindparam("month", type_=ts)),
        else_=None,
    )
    return (
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


# Built once: each flush only binds its parameters (the statements were rebuilt per flush).
_KEY_COUNTERS = _key_counters_statement()
_ACCOUNT_COUNTERS = (
    update(accounts)
    .where(accounts.c.id == bindparam("aid"))
    .values(balance_micros=accounts.c.balance_micros - bindparam("delta"))
)


def _counter_params(batch: list[UsageRow]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The accounts' and the keys' counter updates of a batch, each sorted by id."""
    keys: dict[int, int] = defaultdict(int)
    accounts_: dict[int, int] = defaultdict(int)
    for row in batch:
        if row.cost_micros:
            if row.key_id is not None:
                keys[row.key_id] += row.cost_micros
            if row.account_id is not None:
                accounts_[row.account_id] += row.cost_micros
    # accounts before keys: storage/leases.py locks them in that order too
    account_params = [{"aid": aid, "delta": accounts_[aid]} for aid in sorted(accounts_)]
    key_params: list[dict[str, Any]] = []
    if keys:
        now = utcnow()
        bounds = {p: period_start(p, now) for p in ("daily", "weekly", "monthly")}
        key_params = [
            {
                "kid": kid,
                "delta": keys[kid],
                "day": bounds["daily"],
                "week": bounds["weekly"],
                "month": bounds["monthly"],
            }
            for kid in sorted(keys)  # one lock order for every writer: no deadlocks between replicas
        ]
    return account_params, key_params


async def _move_counters(conn: AsyncConnection, batch: list[UsageRow]) -> None:
    account_params, key_params = _counter_params(batch)
    if account_params:
        await conn.execute(_ACCOUNT_COUNTERS, account_params)
    if key_params:
        await conn.execute(_KEY_COUNTERS, key_params)


def _sqlite_form(statement: Any) -> tuple[str, list[str], dict[str, Any]]:
    """A statement's SQLite text, its parameters' names in order, and its literal values."""
    from sqlalchemy.dialects import sqlite

    compiled = statement.compile(dialect=sqlite.dialect())
    return compiled.string, list(compiled.positiontup or ()), dict(compiled.params)


_SQLITE_ACCOUNTS = _sqlite_form(_ACCOUNT_COUNTERS)
_SQLITE_KEYS = _sqlite_form(_KEY_COUNTERS)


def _positional(form: tuple[str, list[str], dict[str, Any]], params: list[dict[str, Any]]) -> Statement:
    sql, names, literals = form
    out = []
    for values in params:
        merged = {**literals, **values}
        bound = map(merged.__getitem__, names)
        out.append(tuple(sqlite_datetime(v) if isinstance(v, datetime) else v for v in bound))
    return sql, out


def _sqlite_rest(batch: list[UsageRow]) -> list[Statement]:
    """The flush's transaction on SQLite after its rows, as `_insert` runs it elsewhere:
    the day's roll-ups, the accounts, the keys."""
    statements: list[Statement] = list(sqlite_upserts(batch))
    account_params, key_params = _counter_params(batch)
    if account_params:
        statements.append(_positional(_SQLITE_ACCOUNTS, account_params))
    if key_params:
        statements.append(_positional(_SQLITE_KEYS, key_params))
    return statements
