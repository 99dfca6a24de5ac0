"""The usage writer's transaction on SQLite in one trip to a thread of its own.

Through SQLAlchemy and aiosqlite every statement of a flush (the rows, the roll-ups, the
counters, the commit) was a hop to aiosqlite's thread and back, each waiting its turn
on a busy event loop; the write lock, taken at the first insert, was held across all of
them: 150-200 ms a flush at JSON c=32, up to 2 s, while the other workers' flushes and
every hold lease waited on it (bench: a 1.7 s JSON p99). Here the whole transaction is
one function run in the writer's own thread, on its own connection: BEGIN IMMEDIATE,
the rows as multi-row INSERTs (sqlite3 gives up the GIL around every step; one step per
row meant one wait for it per row), the upserts, COMMIT. The lock is held for the
SQLite work alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

ROWS_PER_INSERT = 500  # at most; fewer if the library binds fewer parameters a statement

# One statement of a transaction: SQL and one parameter tuple per execution.
Statement = tuple[str, Sequence[Sequence[Any]]]
Configure = Callable[[sqlite3.Connection], None]  # the engine's own pragmas


def multi_row(insert: str, width: int, rows: Sequence[Sequence[Any]], most: int) -> list[Statement]:
    """`INSERT ... VALUES (?, ...)` for many rows as few statements: chunks of `most`
    rows, then of 10, then single rows, so that only three statement texts exist (sqlite3
    caches each prepared statement by its text)."""
    head, _, _ = insert.partition(" VALUES ")
    one = "(" + ", ".join("?" * width) + ")"
    out: list[Statement] = []
    start = 0
    for size in sorted({most, min(most, 10), 1}, reverse=True):
        end = start + (len(rows) - start) // size * size
        if end > start:
            sql = f"{head} VALUES {', '.join([one] * size)}"
            flat = [tuple(chain.from_iterable(rows[i : i + size])) for i in range(start, end, size)]
            out.append((sql, flat))
        start = end
    return out


class CancelledAfterCommit(asyncio.CancelledError):
    """The flush was cancelled, but its transaction had committed: the rows landed."""


class SqliteBatches:
    """Runs a list of statements as one transaction on a connection of its own, in a
    thread of its own (one at a time)."""

    def __init__(self, database: str, configure: Configure) -> None:
        self._database = database
        self._configure = configure
        self._conn: sqlite3.Connection | None = None
        probe = sqlite3.connect(":memory:")
        self._variables = probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        probe.close()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-sqlite")
        self._closed = False

    @classmethod
    def for_engine(cls, engine: AsyncEngine, configure: Configure) -> SqliteBatches | None:
        """For a SQLite file; None for anything else (an in-memory database is the
        engine's own connection: the caller keeps SQLAlchemy's path)."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.get_driver_name() != "aiosqlite":
            return None
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:") or url.query:
            return None
        return cls(database, configure)

    def inserts(self, insert: str, width: int, rows: Sequence[Sequence[Any]]) -> list[Statement]:
        """The rows' INSERTs: as many rows a statement as the library binds, up to ROWS_PER_INSERT."""
        return multi_row(insert, width, rows, max(1, min(ROWS_PER_INSERT, self._variables // width)))

    async def run(self, first: list[Statement], then: Callable[[], list[Statement]]) -> None:
        """`first`, then what `then()` returns, in one transaction. `then` is called before
        the lock is taken; if it raises, the error is raised after `first` ran (and rolled
        back), so that the database's own refusal of a row is what the caller sees.

        Cancelled while the thread runs, it still waits for the transaction's outcome (a
        thread cannot be stopped) and raises `CancelledAfterCommit` if it committed: the
        caller must count the rows as landed, or a retry would insert them twice."""
        future = asyncio.get_running_loop().run_in_executor(self._thread, self._run, first, then)
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            while not future.done():  # cancelled again: the outcome is still needed
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait((future,))
            if not future.cancelled() and future.exception() is None:
                raise CancelledAfterCommit() from None
            raise

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
            try:
                self._configure(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _run(self, first: list[Statement], then: Callable[[], list[Statement]]) -> None:
        conn = self._connect()
        failed: Exception | None = None
        try:
            rest = then()
        except Exception as exc:
            failed, rest = exc, []
        conn.execute("BEGIN IMMEDIATE")  # the write lock now, not at the first insert
        try:
            for statements in (first, rest):
                for sql, params in statements:
                    if len(params) == 1:
                        conn.execute(sql, params[0])
                    elif params:
                        conn.executemany(sql, params)
                if failed is not None:
                    raise failed
            conn.execute("COMMIT")
        except BaseException:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except BaseException:  # a connection left in its transaction would keep the lock
                self._close()
            raise

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=False)  # its one task is done: nothing to wait for

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
