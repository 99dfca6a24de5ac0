"""A caller's model name can be any length; its usage row still fits its columns, so the
batch it is in (and every row queued behind it) is written, on PostgreSQL too."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.tables import usage_logs
from hubgate.storage.usage import UsageRow, UsageWriter


async def test_a_long_model_name_is_clipped_not_fatal(engine: AsyncEngine) -> None:
    name = f"long-{uuid.uuid4().hex[:8]}"
    writer = UsageWriter(engine)
    writer.record(UsageRow(request_id="r-long", endpoint="chat", status=404, stream=False, key_name=name,
                           model="m" * 5000, error="e" * 5000))  # fmt: skip
    writer.record(
        UsageRow(request_id="r-next", endpoint="chat", status=200, stream=False, key_name=name, model="ok")
    )
    await writer.flush()
    async with engine.connect() as conn:
        rows = (await conn.execute(select(usage_logs).where(usage_logs.c.key_name == name))).all()
    models = sorted(r.model for r in rows)
    assert models == ["m" * 128, "ok"]
    assert {len(r.error or "") for r in rows} == {0, 512}
