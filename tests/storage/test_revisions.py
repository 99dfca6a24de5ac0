"""The revisions every process follows, read in one statement (storage/revisions.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.catalogue import CatalogueEntry, CatalogueRepository
from hubgate.storage.keys import KeyRepository
from hubgate.storage.revisions import WATCHED, read_revisions
from hubgate.storage.system_settings import SystemSettingsRepository


@contextlib.contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_every_table_in_one_statement_and_only_a_changed_one_moves(engine: AsyncEngine) -> None:
    names = tuple(WATCHED)
    with _statements(engine) as statements:
        before = await read_revisions(engine, names)
    assert len(statements) == 1
    assert set(before) == set(names)
    assert all(isinstance(count, int) for _, count in before.values())

    await KeyRepository(engine).create(f"rev-{uuid.uuid4().hex[:8]}")
    after_key = await read_revisions(engine, names)
    assert after_key["keys"] != before["keys"]
    assert {n: after_key[n] for n in names if n != "keys"} == {n: before[n] for n in names if n != "keys"}

    model = f"rev/{uuid.uuid4().hex[:8]}"
    catalogue = CatalogueRepository(engine)
    await catalogue.create(CatalogueEntry(model=model, vendor="rev", name=model))
    added = await read_revisions(engine, ("catalogue",))
    assert added["catalogue"] != after_key["catalogue"]
    await catalogue.delete(model)  # a removal moves the count even when max(updated_at) stays
    assert (await read_revisions(engine, ("catalogue",)))["catalogue"] != added["catalogue"]

    settings, name = SystemSettingsRepository(engine), f"rev_{uuid.uuid4().hex[:6]}"
    await settings.put({name: 1})
    try:
        moved = (await read_revisions(engine, ("settings",)))["settings"]
        assert moved != after_key["settings"]
    finally:
        await settings.put({name: None})  # other tests read the stored settings of this database
    assert (await read_revisions(engine, ("settings",)))["settings"] != moved
    assert await read_revisions(engine, ()) == {}
