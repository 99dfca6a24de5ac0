"""None and booleans bound directly (storage/db._direct_sqlite_binds) store what sqlite3's
own adaptation stored: NULL, 1 and 0, and read back as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from hubgate.storage.db import create_engine


async def test_none_and_booleans_are_stored_as_before(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (a, b, c, d)"))
            await conn.execute(
                text("INSERT INTO t VALUES (:a, :b, :c, :d)"), {"a": None, "b": True, "c": False, "d": 7}
            )
            got = (await conn.execute(text("SELECT typeof(a), a, typeof(b), b, c, d FROM t"))).one()
    finally:
        await engine.dispose()
    assert tuple(got) == ("null", None, "integer", 1, 0, 7)
    plain = sqlite3.connect(":memory:")  # the registry is process-wide: plain sqlite3 too
    assert plain.execute("SELECT ?, ?, typeof(?)", (True, None, None)).fetchone() == (1, None, "null")
