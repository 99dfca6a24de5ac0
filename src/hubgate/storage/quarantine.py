"""Usage rows the database refused, kept aside: which errors are a row's fault (split the
batch and set the row aside) and which are the database's (keep the batch, retry), and
the quarantine table's writes and pages.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from datetime import UTC
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import utcnow
from hubgate.storage.storable import clean
from hubgate.storage.tables import usage_quarantine

if TYPE_CHECKING:
    from hubgate.storage.usage import UsageRow

# SQLSTATE classes that name the data, not the server: 22 data exception (bad text,
# too long, out of range), 23 integrity constraint violation (NOT NULL, unique).
_ROW_CLASSES = ("22", "23")
_CONFLICT_STATES = ("40P01", "40001")  # deadlock detected, serialization failure
_BOOK_KEEPING = ("journal_segment", "queued_at", "quarantined")


def row_fault(exc: BaseException) -> bool:
    """Whether the database refused the data (another try fails the same way) rather than
    failing itself (down, locked, a lost connection: the batch waits and is tried again)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return False
        if isinstance(current, sqlite3.IntegrityError | sqlite3.DataError | sqlite3.ProgrammingError):
            return True
        if isinstance(current, sa_exc.IntegrityError | sa_exc.DataError):
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state[:2] in _ROW_CLASSES:
            return True
        if isinstance(current, UnicodeError | ValueError | TypeError | OverflowError):
            return True  # the driver could not encode a value (asyncpg's DataError is a ValueError)
        current = current.__cause__ or getattr(current, "orig", None) or current.__context__
    return False


def lock_conflict(exc: BaseException) -> bool:
    """Whether the database aborted the transaction to break a deadlock or a serialization
    conflict (SQLSTATE 40P01, 40001): nothing is wrong, the same batch may go again at once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in _CONFLICT_STATES:
            return True
        current = current.__cause__ or getattr(current, "orig", None) or current.__context__
    return False


def row_json(row: UsageRow) -> str:
    """Every field of the row as JSON text (ASCII, so any byte the row held survives)."""
    values = {f.name: getattr(row, f.name) for f in fields(row) if f.name not in _BOOK_KEEPING}
    return json.dumps(values, default=str, ensure_ascii=True)


def error_text(exc: BaseException) -> str:
    return clean(f"{type(exc).__name__}: {exc}", 2000)


async def quarantine(engine: AsyncEngine, row: UsageRow, error: str) -> None:
    """Set a refused row aside, in its own transaction."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(usage_quarantine).values(
                created_at=utcnow(),
                request_id=clean(str(row.request_id), 40),
                row=row_json(row),
                error=error,
            )
        )


async def quarantine_page(
    engine: AsyncEngine, *, limit: int, cursor: int | None = None
) -> tuple[list[dict[str, Any]], int | None, int]:
    """Quarantined rows newest first, keyset-paged by id: the rows, the next cursor and the total."""
    t = usage_quarantine.c
    query = select(usage_quarantine).order_by(t.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(t.id < cursor)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        total = int((await conn.execute(select(func.count()).select_from(usage_quarantine))).scalar_one())
    out = []
    for r in rows[:limit]:
        out.append(
            {
                "id": int(r.id),
                "created_at": r.created_at.replace(tzinfo=r.created_at.tzinfo or UTC).isoformat(),
                "request_id": r.request_id,
                "row": json.loads(r.row),
                "error": r.error,
            }
        )
    return out, (out[-1]["id"] if len(rows) > limit else None), total
