"""The usage journal: one line per record, segments deleted once their rows landed, and
replay of a dead process's segments, idempotent, on both databases."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.journal import FINAL, Journal, default_dir, encode, header, records, replay
from hubgate.storage.keys import KeyRepository
from hubgate.storage.tables import api_keys, usage_logs
from hubgate.storage.usage import PROVISIONAL, UsageRow, UsageWriter, stored_ids


def _row(key_id: int | None = None, **fields: object) -> UsageRow:
    base: dict[str, object] = {"request_id": uuid.uuid4().hex, "endpoint": "chat", "status": 200,
                               "stream": True, "key_id": key_id, "cost_micros": 5}  # fmt: skip
    base.update(fields)
    return UsageRow(**base)  # type: ignore[arg-type]


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.journal"))


def _die(journal: Journal) -> None:
    """What SIGKILL does to a journal: descriptors closed (locks gone), files left."""
    for seg in list(journal._segments.values()):
        os.close(seg.fd)
    journal._segments.clear()
    journal._current = None


def test_a_record_is_one_line_that_reads_back() -> None:
    at = datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=UTC)
    row = _row(7, model="gpt\ufffd", created_at=at, prompt_tokens=3, units=2, unit="image", estimated=True)
    line = encode(row, PROVISIONAL)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    ((kind, back),) = records(header() + line + b'["f", "torn", "cha')
    assert kind == PROVISIONAL
    assert (back.request_id, back.model, back.created_at, back.units, back.estimated) == (
        row.request_id, "gpt\ufffd", at, 2, True,
    )  # fmt: skip
    assert records(line) == []  # no header: not a journal


def test_default_dir_is_next_to_sqlite_and_per_database_otherwise(tmp_path: Path) -> None:
    assert default_dir(f"sqlite+aiosqlite:///{tmp_path}/hub.db") == str(tmp_path.resolve() / "journal")
    one = default_dir("postgresql+asyncpg://u:p@db:5432/one")
    assert one.startswith("data/journal/") and one != default_dir("postgresql+asyncpg://u:p@db:5432/two")


async def test_segments_go_once_their_rows_landed(engine: AsyncEngine, tmp_path: Path) -> None:
    journal = Journal(tmp_path, fsync="off")
    journal.open()
    writer = UsageWriter(engine, journal=journal)
    for _ in range(5):
        writer.record(_row())
    first = journal.segments
    assert len(first) == 1 and len(records(first[0].read_bytes())) == 5
    await writer.flush()  # rotates, lands the five, deletes the first segment
    assert not first[0].exists() and len(journal.segments) == 1
    writer.record(_row())
    await writer.close()
    assert _files(tmp_path) == []  # everything landed: nothing left to replay


async def test_landed_segments_are_deleted_off_the_event_loop(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unlink waits on the file system (4-17 ms measured under load): not on the loop."""
    journal = Journal(tmp_path, fsync="off")
    journal.open()
    writer = UsageWriter(engine, journal=journal)
    writer.record(_row())
    first = journal.segments[0]
    unlinked: list[tuple[str, int]] = []
    real_unlink = os.unlink

    def unlink(path: str | os.PathLike[str]) -> None:
        unlinked.append((os.fspath(path), threading.get_ident()))
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", unlink)
    await writer.flush()
    assert unlinked == [(str(first), unlinked[0][1])] and unlinked[0][1] != threading.get_ident()
    assert not first.exists()
    await writer.close()


async def test_replay_lands_each_row_once(engine: AsyncEngine, tmp_path: Path) -> None:
    """A dead process's segment is replayed: the last record per request id wins (a
    provisional one is replaced by its final one), ids already stored are skipped, and a
    second replay of the same file (a crash before it was deleted) lands nothing twice."""
    key, _ = await KeyRepository(engine).create(f"j-{uuid.uuid4().hex[:8]}")
    dead = Journal(tmp_path, fsync="off")
    dead.open()
    rows = [_row(key.id) for _ in range(20)]
    estimated = _row(key.id, cost_micros=1)
    dead.append(estimated, PROVISIONAL)
    for r in rows:
        dead.append(r, FINAL)
    estimated.cost_micros = 9
    dead.append(estimated, FINAL)  # the count finished: the final record replaces the provisional one
    _die(dead)
    (segment,) = _files(tmp_path)
    copy = segment.read_bytes()

    async def live() -> int:
        journal = Journal(tmp_path, fsync="batch")
        journal.open()
        writer = UsageWriter(engine, journal=journal)
        try:
            return await replay(journal, lambda ids: stored_ids(engine, ids), writer.record, writer.flush)
        finally:
            await writer.close()

    assert await live() == 21
    assert not segment.exists()
    segment.write_bytes(copy)  # as if the process died after landing the rows, before the delete
    assert await live() == 0
    assert not segment.exists() and _files(tmp_path) == []
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).where(usage_logs.c.key_id == key.id))).scalar()
        spent = (await conn.execute(select(api_keys.c.spent_micros).where(api_keys.c.id == key.id))).scalar()
        cost = (
            await conn.execute(
                select(usage_logs.c.cost_micros).where(usage_logs.c.request_id == estimated.request_id)
            )
        ).scalar()
    assert (count, spent, cost) == (21, 20 * 5 + 9, 9)


async def test_a_live_process_keeps_its_segments(engine: AsyncEngine, tmp_path: Path) -> None:
    """A segment whose owner still holds its lock is not replayed by another process."""
    owner = Journal(tmp_path, fsync="off")
    owner.open()
    owner.append(_row())
    other = Journal(tmp_path, fsync="off")
    other.open()
    writer = UsageWriter(engine, journal=other)
    assert await replay(other, lambda ids: stored_ids(engine, ids), writer.record, writer.flush) == 0
    assert all(p.exists() for p in owner.segments)
    await writer.close()
    _die(owner)
    shutil.rmtree(tmp_path)


async def test_a_broken_journal_fails_no_row(engine: AsyncEngine, tmp_path: Path) -> None:
    """A journal that cannot write (full disk, folder gone) logs and steps aside: rows are
    still queued and land, and the flush does not stop on a segment it cannot open."""
    journal = Journal(tmp_path / "j", fsync="off")
    journal.open()
    writer = UsageWriter(engine, journal=journal)
    shutil.rmtree(tmp_path / "j")  # the next segment cannot be created
    first = _row()
    writer.record(first)
    await writer.flush()  # rotation fails: logged, the rows still land
    assert writer.written == 1
    assert journal._current is not None
    os.close(journal._current.fd)  # writes now fail with EBADF
    second = _row()
    writer.record(second)
    assert journal.failed == 1 and writer.pending == 1
    await writer.flush()
    assert writer.written == 2
    journal._segments.clear()
    journal._current = None
    await writer.close()
    assert await stored_ids(engine, [first.request_id, second.request_id]) == {
        first.request_id,
        second.request_id,
    }


async def test_fsync_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`always`: each durable() syncs what was written; `batch`: the syncer does, at most
    every interval, off the event loop; `off`: never."""
    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", synced.append)
    always = Journal(tmp_path / "a", fsync="always")
    always.open()
    always.append(_row())
    await always.durable()
    assert len(synced) == 1
    await always.durable()  # nothing new written: nothing to sync
    assert len(synced) == 1
    await always.close()

    synced.clear()
    batch = Journal(tmp_path / "b", fsync="batch", interval_s=0.01)
    batch.open()
    batch.start()
    await batch.durable()  # not `always`: returns at once
    batch.append(_row())
    for _ in range(100):
        if synced:
            break
        await asyncio.sleep(0.01)
    assert len(synced) == 1
    batch.landed({1: 1})
    await batch.close()

    synced.clear()
    off = Journal(tmp_path / "c", fsync="off")
    off.open()
    off.append(_row())
    await off.durable()
    off.landed({1: 1})
    await off.close()
    assert synced == []
