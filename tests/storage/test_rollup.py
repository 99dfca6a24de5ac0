"""Daily roll-ups kept current by the usage writer: they always equal the log they sum,
reports over any range agree with a sum over the log rows, retention only prunes the
log, and migration 0010 builds them from an existing log and old roll-ups."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.admin_usage import UsageFilter, UsageGroup, _from_log, aggregate, split_days
from hubgate.storage.db import _alembic_config, create_engine, migrate_sync
from hubgate.storage.keys import KeyRecord, KeyRepository, utcnow
from hubgate.storage.retention import cutoff, prune
from hubgate.storage.rollup import fold, utc_day
from hubgate.storage.tables import api_keys, usage_daily, usage_daily_models, usage_logs
from hubgate.storage.usage import UsageRow, UsageWriter, _columns
from tests.conftest import _pg_admin, pg_url


def _row(key: KeyRecord, at: datetime, *, status: int = 200, model: str = "m", cost: int = 100) -> UsageRow:
    return UsageRow(
        request_id=uuid.uuid4().hex, endpoint="chat", status=status, stream=False, key_id=key.id,
        key_name=key.name, model=model, channel="c", prompt_tokens=10, completion_tokens=5,
        reasoning_tokens=1, cost_micros=cost, created_at=at,
    )  # fmt: skip


async def _key(engine: AsyncEngine) -> KeyRecord:
    record, _ = await KeyRepository(engine).create(f"roll-{uuid.uuid4().hex[:8]}")
    return record


async def _scalar(engine: AsyncEngine, query: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one() or 0)  # type: ignore[call-overload]


def _brute(rows: list[UsageRow], since: datetime | None, until: datetime | None) -> dict[str, int]:
    """The report's totals, summed in Python over the rows written."""
    chosen = [
        r
        for r in rows
        if (since is None or r.created_at >= since) and (until is None or r.created_at < until)
    ]
    return {
        "requests": len(chosen),
        "errors": sum(r.status >= 400 for r in chosen),
        "cost_micros": sum(r.cost_micros for r in chosen),
        "prompt_tokens": sum(r.prompt_tokens for r in chosen),
        "reasoning_tokens": sum(r.reasoning_tokens for r in chosen),
    }


def _totals(g: UsageGroup) -> dict[str, int]:
    return {
        "requests": g.requests,
        "errors": g.errors,
        "cost_micros": g.cost_micros,
        "prompt_tokens": g.prompt_tokens,
        "reasoning_tokens": g.reasoning_tokens,
    }


async def test_roll_ups_equal_the_log_and_reports_agree_over_any_range(engine: AsyncEngine) -> None:
    key = await _key(engine)
    writer = UsageWriter(engine, batch_size=7)  # several batches, several upserts per group
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for day in range(4):  # three whole days back and today, at hours 1, 9 and 17
        for hour in (1, 9, 17):
            for i in range(3):
                at = midnight - timedelta(days=3 - day) + timedelta(hours=hour, minutes=i)
                if at <= utcnow():
                    rows.append(_row(key, at, status=500 if i == 2 else 200, model=f"m{i % 2}"))
    for r in rows:
        writer.record(r)
    await writer.flush()

    rolled = await _scalar(
        engine, select(func.sum(usage_daily.c.requests)).where(usage_daily.c.key_id == key.id)
    )
    assert rolled == len(rows)
    spent = await _scalar(engine, select(api_keys.c.spent_micros).where(api_keys.c.id == key.id))
    daily_cost = select(func.sum(usage_daily.c.cost_micros)).where(usage_daily.c.key_id == key.id)
    assert spent == await _scalar(engine, daily_cost) == 100 * len(rows)
    for column in ("requests", "cost_micros"):  # the per-model roll-ups hold the same sums
        by_key = await _scalar(engine, select(func.sum(usage_daily.c[column])))
        assert by_key == await _scalar(engine, select(func.sum(usage_daily_models.c[column])))

    d = timedelta
    ranges = [
        (None, None),
        (midnight - d(days=2), None),  # whole days only
        (midnight - d(days=2, hours=-5), None),  # starts inside a day
        (midnight - d(days=3, hours=-9), midnight - d(days=1, hours=-10)),  # both ends inside days
        (midnight - d(days=1, hours=-2), midnight - d(days=1, hours=-12)),  # inside one day
        (None, midnight - d(hours=14)),  # open start, ends inside a day
        (midnight, midnight),  # empty
        (midnight - d(days=1, minutes=-9 * 60 - 1), midnight - d(days=1, minutes=-9 * 60 - 2)),  # one row
    ]
    for since, until in ranges:
        flt = UsageFilter(key=key.name, since=since, until=until)
        groups, totals = await aggregate(engine, ["day", "model"], flt)
        assert _totals(totals) == _brute(rows, since, until), (since, until)
        assert sum(g.requests for g in groups) == totals.requests
        assert all(g.day is not None and g.model in ("m0", "m1") for g in groups)
        by_model, _ = await aggregate(engine, ["model"], flt)
        assert sorted(g.model for g in by_model if g.model) == sorted({g.model for g in groups if g.model})
        just_totals, again = await aggregate(engine, [], flt)
        assert just_totals == [] and again == totals
    _, totals = await aggregate(engine, [], UsageFilter(key=key.name, status=500))
    assert totals.requests == sum(r.status == 500 for r in rows)  # status: from the log


async def test_reports_over_every_key_agree_with_the_log(engine: AsyncEngine) -> None:
    """No key or account in the report: whole days come from the per-model roll-ups."""
    keys = [await _key(engine) for _ in range(3)]
    model = f"mx-{uuid.uuid4().hex[:6]}"
    writer = UsageWriter(engine, batch_size=5)
    now = utcnow()
    for i in range(30):
        at = now - timedelta(days=i % 4, hours=i % 3)
        writer.record(_row(keys[i % 3], at, status=500 if i % 7 == 0 else 200, model=model, cost=10 + i))
    await writer.flush()
    for group_by in (["model"], ["channel"], ["day", "model"], ["day"], []):
        for since in (None, now - timedelta(days=2, hours=5)):
            flt = UsageFilter(model=model, since=since)
            got = await aggregate(engine, group_by, flt)
            async with engine.connect() as conn:
                scanned = await _from_log(conn, engine.dialect.name, group_by, flt, 10_000)
            assert got == scanned, (group_by, since)
    _, totals = await aggregate(engine, [], UsageFilter(model=model))
    assert totals.requests == 30 and totals.cost_micros == sum(10 + i for i in range(30))


def test_split_days_cuts_only_at_midnight() -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    h = timedelta(hours=1)
    assert split_days(None, None) == ((None, None), [])
    assert split_days(day, day + 48 * h) == (("2026-11-20", "2026-11-22"), [])
    assert split_days(day + 5 * h, day + 53 * h) == (
        ("2026-11-21", "2026-11-22"),
        [(day + 5 * h, day + 24 * h), (day + 48 * h, day + 53 * h)],
    )
    assert split_days(day + 5 * h, day + 24 * h) == (None, [(day + 5 * h, day + 24 * h)])
    assert split_days(day + 5 * h, None) == (("2026-11-21", None), [(day + 5 * h, day + 24 * h)])
    naive = datetime(2026, 11, 20, 5)  # naive datetimes are UTC
    assert split_days(naive, None) == (("2026-11-21", None), [(day + 5 * h, day + 24 * h)])


async def test_prune_keeps_reports_and_the_ledger(engine: AsyncEngine) -> None:
    key = await _key(engine)
    writer = UsageWriter(engine)
    now = utcnow()
    for age_days, status in ((10, 200), (10, 500), (9, 200), (0, 200)):
        writer.record(_row(key, now - timedelta(days=age_days, minutes=5), status=status))
    await writer.flush()
    before, _ = await aggregate(engine, ["key", "day"], UsageFilter(key=key.name))
    assert await prune(engine, cutoff(3, now)) >= 3
    after, totals = await aggregate(engine, ["key", "day"], UsageFilter(key=key.name))
    assert after == before
    assert (totals.requests, totals.errors, totals.cost_micros, totals.prompt_tokens) == (4, 1, 400, 40)
    logged = select(func.count()).where(usage_logs.c.key_id == key.id)
    assert await _scalar(engine, logged) == 1
    spent = await _scalar(engine, select(api_keys.c.spent_micros).where(api_keys.c.id == key.id))
    rolled = select(func.sum(usage_daily.c.cost_micros)).where(usage_daily.c.key_id == key.id)
    assert spent == await _scalar(engine, rolled) == 400  # the ledger invariant, after a prune too
    assert await prune(engine, cutoff(3, now)) == 0


async def test_concurrent_writers_add_to_the_same_roll_up(engine: AsyncEngine) -> None:
    """Replicas flush batches for the same key, model and day at once: every row counts once."""
    key = await _key(engine)
    writers = [UsageWriter(engine, batch_size=25) for _ in range(4)]
    now = utcnow()
    for writer in writers:
        for _ in range(100):
            writer.record(_row(key, now))
    await asyncio.gather(*(w.flush() for w in writers))
    _, totals = await aggregate(engine, [], UsageFilter(key=key.name, since=now - timedelta(days=2)))
    assert totals.requests == 400 and totals.cost_micros == 40_000
    rolled = select(func.sum(usage_daily.c.requests)).where(usage_daily.c.key_id == key.id)
    assert await _scalar(engine, rolled) == 400


async def _fresh_database(kind: str, tmp_path: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}", None
    name = f"hubgate_migrate_{uuid.uuid4().hex[:8]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    return pg_url(name), name


async def test_migration_0010_builds_roll_ups_from_the_log_and_old_roll_ups(
    database_url: str, tmp_path: Path
) -> None:
    from alembic import command

    # A database of its own, on the backend of this run (the fixture checks it is reachable).
    url, pg_name = await _fresh_database("sqlite" if database_url.startswith("sqlite") else "pg", tmp_path)
    try:
        await asyncio.to_thread(migrate_sync, url, "0009")
        eng = create_engine(url)
        old_day = "2026-01-05"
        async with eng.begin() as conn:
            # Old roll-ups (what retention removed), twice for one group: they add up.
            for requests in (3, 2):
                await conn.execute(
                    text(
                        "INSERT INTO usage_daily (day, key_id, key_name, account_id, model, channel, "
                        "requests, errors, prompt_tokens, completion_tokens, cached_tokens, "
                        "cache_write_tokens, reasoning_tokens, cost_micros) VALUES "
                        "(:day, 7, 'k', NULL, 'm', NULL, :n, 1, 10, 5, 0, 0, 0, :cost)"
                    ),
                    {"day": old_day, "n": requests, "cost": requests * 100},
                )
        rows = [
            UsageRow(request_id=uuid.uuid4().hex, endpoint="chat", status=200 if i else 429, stream=False,
                     key_id=7,
                     key_name="k", model="m", prompt_tokens=1, completion_tokens=2, cost_micros=10,
                     created_at=datetime(2026, 1, 6, 23, 59, tzinfo=UTC) + timedelta(minutes=i))
            for i in range(3)
        ]  # fmt: skip
        async with eng.begin() as conn:  # the log as 0009's writer left it (no roll-ups)
            await conn.execute(usage_logs.insert(), [_columns(r) for r in rows])
        await eng.dispose()

        await asyncio.to_thread(migrate_sync, url, "head")
        eng = create_engine(url)
        async with eng.connect() as conn:
            got = {
                (r.day, r.key_id, r.key_name, r.account_id, r.model, r.channel): (
                    r.requests,
                    r.errors,
                    r.cost_micros,
                )
                for r in (await conn.execute(select(usage_daily))).all()
            }
        assert got == {
            (old_day, 7, "k", 0, "m", ""): (5, 2, 500),
            ("2026-01-06", 7, "k", 0, "m", ""): (1, 1, 10),
            ("2026-01-07", 7, "k", 0, "m", ""): (2, 0, 20),
        }
        async with eng.connect() as conn:
            models = (await conn.execute(select(func.sum(usage_daily_models.c.requests)))).scalar_one()
        assert models == 8
        groups, totals = await aggregate(eng, ["day"], UsageFilter(key="k"))
        assert [g.day for g in groups] == [old_day, "2026-01-06", "2026-01-07"]
        assert totals.requests == 8 and totals.cost_micros == 530
        await eng.dispose()

        # Down again: the old shape holds only what the log no longer has.
        await asyncio.to_thread(command.downgrade, _alembic_config(url), "0009")
        eng = create_engine(url)
        async with eng.connect() as conn:
            back = (
                await conn.execute(text("SELECT day, account_id, channel, requests FROM usage_daily"))
            ).all()
        await eng.dispose()
        assert [tuple(r) for r in back] == [(old_day, None, None, 5)]
    finally:
        if pg_name is not None:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def test_fold_sums_each_group_as_a_row_by_row_reading() -> None:
    """fold keeps per-row tuples and sums columns at the end; held to a row-by-row sum over
    random rows (None and empty names in one group, errors, days, offsets)."""
    rnd = random.Random(9)
    tz = timezone(timedelta(hours=-5))
    rows = []
    for i in range(3_000):
        created = datetime(2026, 12, 1, 23, 0, tzinfo=rnd.choice([UTC, None, tz])) + timedelta(
            minutes=rnd.randrange(240)
        )
        rows.append(
            UsageRow(
                request_id=str(i),
                endpoint="chat",
                status=rnd.choice([200, 200, 429, 500]),
                stream=False,
                key_id=rnd.choice([None, 0, 1, 2]),
                key_name=rnd.choice([None, "", "k"]),
                account_id=rnd.choice([None, 3]),
                model=rnd.choice([None, "", "m"]),
                channel=rnd.choice([None, "c"]),
                prompt_tokens=rnd.randrange(100),
                completion_tokens=rnd.randrange(100),
                cached_tokens=rnd.randrange(5),
                cache_write_tokens=rnd.randrange(5),
                reasoning_tokens=rnd.randrange(5),
                cost_micros=rnd.randrange(10_000),
                created_at=created,
            )
        )
    expected: dict[tuple[object, ...], list[int]] = {}
    for r in rows:
        group = (utc_day(r.created_at), r.key_id or 0, r.key_name or "", r.account_id or 0, r.model or "",
                 r.channel or "")  # fmt: skip
        sums = expected.setdefault(group, [0] * 8)
        values = (1, int(r.status >= 400), r.prompt_tokens, r.completion_tokens, r.cached_tokens,
                  r.cache_write_tokens, r.reasoning_tokens, r.cost_micros)  # fmt: skip
        for i, v in enumerate(values):
            sums[i] += v
    assert fold(rows) == expected
