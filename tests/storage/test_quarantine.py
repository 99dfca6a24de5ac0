"""A usage writer no row can stop: text made storable before it is queued, a refused
batch split until the bad rows stand alone, those quarantined, the rest landed, on both
databases."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.db import _alembic_config, create_engine, migrate_sync
from hubgate.storage.keys import KeyRepository
from hubgate.storage.quarantine import quarantine_page, row_fault
from hubgate.storage.storable import TEXT_FIELDS, clean, make_storable
from hubgate.storage.tables import api_keys, usage_logs, usage_quarantine
from hubgate.storage.usage import UsageRow, UsageWriter, _columns
from tests.conftest import _pg_admin
from tests.storage.test_rollup import _fresh_database


def rid() -> str:
    return uuid.uuid4().hex


def test_clean_text_passes_untouched_and_bad_text_is_fixed() -> None:
    assert clean("gpt-4o-mini", 128) == "gpt-4o-mini"
    assert clean("café ☕", 128) == "café ☕"
    assert clean("nope\x00", 128) == "nope\ufffd"
    assert clean("a\ud800b", 128) == "a\ufffdb"  # an unpaired surrogate (JSON "\ud800")
    assert clean("x" * 200, 128) == "x" * 128
    row = UsageRow(request_id="r\x00", endpoint="chat", status=200, stream=False, model="nope\x00",
                   upstream_model="m\udfff", error="e" * 600, key_name=None)  # fmt: skip
    make_storable(row)
    assert (row.request_id, row.model, row.upstream_model) == ("r\ufffd", "nope\ufffd", "m\ufffd")
    assert len(row.error or "") == 512 and row.key_name is None
    assert row.model is not None and row.model.encode("utf-8")  # storable: encodes


def test_make_storable_agrees_with_cleaning_each_field() -> None:
    """The all-clean check (one join, in C) lets through exactly the rows no field of which
    `clean` would change: random rows with text at, under and over each column's length,
    NUL, non-ASCII and unpaired surrogates, and None."""
    rnd = random.Random(5)
    pieces = ["a", "Z", "-", "é", "☕", "\x00", "\ud800", "\udfff", "𝄞"]
    for _ in range(5_000):
        texts: dict[str, str | None] = {}
        for name, limit in TEXT_FIELDS.items():
            size = rnd.choice([0, 1, limit - 1, limit, limit + 1, rnd.randrange(limit * 2)])
            bad = rnd.random() < 0.1
            texts[name] = (
                None
                if name not in ("request_id", "endpoint") and rnd.random() < 0.3
                else "".join(rnd.choice(pieces if bad else pieces[:3]) for _ in range(size))
            )
        row = UsageRow(status=200, stream=False, **texts)  # type: ignore[arg-type]
        make_storable(row)
        for name, limit in TEXT_FIELDS.items():
            value = texts[name]
            assert getattr(row, name) == (None if value is None else clean(value, limit)), name


def test_make_storable_is_cheap_on_clean_rows() -> None:
    row = UsageRow(request_id=rid(), endpoint="chat", status=200, stream=True, key_name="alice",
                   model="gpt-4o-mini", upstream_model="gpt-4o-mini-2024-07-18", channel="main")  # fmt: skip
    n = 20_000
    start = time.thread_time()  # CPU time: a loaded machine's waits for a core do not count
    for _ in range(n):
        make_storable(row)
    per_row = (time.thread_time() - start) / n
    assert per_row < 20e-6, f"{per_row * 1e6:.1f} µs per clean row"


def test_row_fault_tells_data_from_the_database() -> None:
    assert row_fault(ValueError("invalid input for query argument"))
    assert not row_fault(ConnectionRefusedError("down"))
    assert not row_fault(TimeoutError())

    class Refused(Exception):
        sqlstate = "22021"  # asyncpg CharacterNotInRepertoireError

    class Shutdown(Exception):
        sqlstate = "57P01"  # admin shutdown

    assert row_fault(Refused())
    assert not row_fault(Shutdown())


async def test_a_poisoned_batch_is_split_and_only_the_bad_row_is_quarantined(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One row in 64 the database refuses (a fault injected into the insert): it alone goes
    to the quarantine, in a handful of tries, and the counters move for the 63 that landed."""
    key, _ = await KeyRepository(engine).create(f"q-{uuid.uuid4().hex[:8]}")
    writer = UsageWriter(engine, batch_size=64)
    rows = [UsageRow(request_id=rid(), endpoint="chat", status=200, stream=False, key_id=key.id,
                     key_name=key.name, cost_micros=10) for _ in range(64)]  # fmt: skip
    poison = rows[41]
    real = writer._insert
    tries = []

    async def insert(batch: list[UsageRow]) -> None:
        tries.append(len(batch))
        if poison in batch:

            class Refused(Exception):
                sqlstate = "22021"

            raise Refused("invalid byte sequence for encoding UTF8: 0x00")
        await real(batch)

    monkeypatch.setattr(writer, "_insert", insert)
    for r in rows:
        writer.record(r)
    settled: list[UsageRow] = []
    writer._on_flushed = settled.extend
    await writer.flush()
    assert (writer.pending, writer.written, writer.quarantined) == (0, 63, 1)
    assert len(tries) <= 2 * 7 + 1  # a bisection: two tries per level, log2(64) levels
    assert len(settled) == 64 and poison.quarantined  # its cost leaves the in-memory sums too
    async with engine.connect() as conn:
        spent = (await conn.execute(select(api_keys.c.spent_micros).where(api_keys.c.id == key.id))).scalar()
        landed = (await conn.execute(select(func.count()).where(usage_logs.c.key_id == key.id))).scalar()
        held = (
            await conn.execute(
                select(usage_quarantine).where(usage_quarantine.c.request_id == poison.request_id)
            )
        ).one()
    assert (spent, landed) == (630, 63)
    assert json.loads(held.row)["request_id"] == poison.request_id and "0x00" in held.error
    page, _, total = await quarantine_page(engine, limit=1000)
    assert any(p["request_id"] == poison.request_id and p["row"]["cost_micros"] == 10 for p in page)
    assert total >= 1


async def test_a_value_the_database_refuses_is_quarantined(engine: AsyncEngine, database_url: str) -> None:
    """A row that slipped past `make_storable` (queued behind its back): PostgreSQL refuses a
    NUL byte and a too-long model; the row is quarantined, the rows around it land."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite stores NUL and long text as they are")
    writer = UsageWriter(engine, batch_size=10)
    before, after = rid(), rid()
    writer.record(UsageRow(request_id=before, endpoint="chat", status=200, stream=False))
    for model in ("nope\x00", "m" * 300):
        bad = UsageRow(request_id=rid(), endpoint="chat", status=200, stream=False, model=model)
        bad.queued_at = time.monotonic()
        writer._pending.append(bad)  # not through record(): nothing cleaned it
    writer.record(UsageRow(request_id=after, endpoint="chat", status=200, stream=False))
    await writer.flush()
    assert (writer.pending, writer.written, writer.quarantined) == (0, 2, 2)
    async with engine.connect() as conn:
        got = set(
            (
                await conn.execute(
                    select(usage_logs.c.request_id).where(usage_logs.c.request_id.in_([before, after]))
                )
            )
            .scalars()
            .all()
        )
    assert got == {before, after}


async def test_migration_0012_keeps_repeated_request_ids_under_new_names(
    database_url: str, tmp_path: Path
) -> None:
    """An old log may repeat a request id: every repeat after the first is renamed (its
    row id appended), no row or cost goes, and the id is unique from then on."""
    from alembic import command

    url, pg_name = await _fresh_database("sqlite" if database_url.startswith("sqlite") else "pg", tmp_path)
    try:
        await asyncio.to_thread(migrate_sync, url, "0011")
        eng = create_engine(url)
        rows = [UsageRow(request_id=rid, endpoint="chat", status=200, stream=False, cost_micros=cost)
                for rid, cost in (("same", 1), ("same", 2), ("other", 4), ("same", 8))]  # fmt: skip
        async with eng.begin() as conn:
            await conn.execute(usage_logs.insert(), [_columns(r) for r in rows])
        await eng.dispose()
        await asyncio.to_thread(migrate_sync, url, "head")
        eng = create_engine(url)
        async with eng.connect() as conn:
            got = (
                await conn.execute(select(usage_logs.c.id, usage_logs.c.request_id, usage_logs.c.cost_micros))
            ).all()
        by_cost = {cost: request_id for _, request_id, cost in got}
        ids = {cost: row_id for row_id, _, cost in got}
        assert by_cost == {1: "same", 2: f"same-{ids[2]}", 4: "other", 8: f"same-{ids[8]}"}
        writer = UsageWriter(eng)
        writer.record(UsageRow(request_id="same", endpoint="chat", status=200, stream=False))
        await writer.flush()
        assert writer.quarantined == 1  # the id is taken: unique now
        await eng.dispose()
        await asyncio.to_thread(command.downgrade, _alembic_config(url), "0011")
    finally:
        if pg_name is not None:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
