"""Engine creation and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def sqlite_pragmas(dbapi_conn: Any, _record: Any = None) -> None:
    # WAL lets readers run beside the batched usage writer; NORMAL is durable at
    # each checkpoint, which is what a log of metering rows needs.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _direct_sqlite_binds() -> None:
    """Bind None and booleans without sqlite3's adaptation search. For any value not
    exactly an int, float, str or bytes, sqlite3 looks in its adapter registry, then asks
    the protocol and the value for `__adapt__` / `__conform__`: two failed attribute
    lookups, one of them building an AttributeError's message (1.3 us a usage row, whose
    Nones and booleans are most of its values). Registered, they are found at once and
    bound exactly as before: None as NULL, True and False as 1 and 0. Process-wide, as
    sqlite3's registry is; idempotent."""
    none: Callable[[None], None] = cast("Callable[[None], None]", {}.get)  # C, returns None
    sqlite3.register_adapter(type(None), none)
    sqlite3.register_adapter(bool, int)


def create_engine(url: str, *, pool_size: int = 10, pool_overflow: int | None = None) -> AsyncEngine:
    """An async engine tuned for the backend that `url` names. On PostgreSQL it keeps up to
    `pool_size` connections open and opens up to `pool_overflow` (default: `pool_size`) more for
    a burst, closing those when they are returned."""
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        _direct_sqlite_binds()
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    overflow = pool_size if pool_overflow is None else pool_overflow
    return create_async_engine(url, pool_size=pool_size, max_overflow=overflow, pool_pre_ping=True)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = url
    return cfg


def migrate_sync(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; call from a thread with no running event loop."""
    from alembic import command

    if is_sqlite(url):
        _ensure_sqlite_dir(url)
    command.upgrade(_alembic_config(url), revision)


async def migrate(url: str) -> None:
    """Run migrations from async code (Alembic's env runs its own loop in a worker thread)."""
    await asyncio.to_thread(migrate_sync, url)
