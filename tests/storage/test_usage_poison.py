"""A caller's odd model name stops no usage row: `"nope\\u0000"` through OpenAI chat,
Anthropic messages and the Gemini path is answered 404 and metered; the rows behind it
land; a graceful stop loses nothing. A row the database does refuse is quarantined (the
admin API lists it, /metrics counts it), and a usage writer that cannot write turns
/readyz to 503 (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes
from sqlalchemy import select

from hubgate.storage.db import create_engine
from hubgate.storage.keys import KeyRepository
from hubgate.storage.tables import usage_logs, usage_quarantine
from hubgate.storage.usage import UsageRow
from tests.conftest import LiveGateway, free_port, gateway_config, live_gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.observability.helpers import parse, value

ADMIN = "sk-admin-poison-0123456789"
POISON = "nope\x00"
HELLO: Any = [{"role": "user", "content": "hello"}]  # both SDKs' message shapes


def _config(fake: FakeOpenAI, database_url: str, journal: Path, **extra: Any) -> dict[str, Any]:
    config = gateway_config(fake, database_url, free_port())
    config.update(admin_key=ADMIN, usage_journal_dir=str(journal), **extra)
    return config


async def _rows(database_url: str, key_name: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                select(usage_logs).where(usage_logs.c.key_name == key_name).order_by(usage_logs.c.id)
            )
            return [dict(r._mapping) for r in result]
    finally:
        await engine.dispose()


async def _poison_everywhere(gw: LiveGateway, secret: str) -> None:
    async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=secret, max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model=POISON, messages=HELLO)
    async with anthropic.AsyncAnthropic(base_url=gw.url, api_key=secret, max_retries=0) as claude:
        with pytest.raises(anthropic.NotFoundError):
            await claude.messages.create(model=POISON, max_tokens=16, messages=HELLO)
    gemini = genai.Client(
        api_key=secret, http_options=gtypes.HttpOptions(base_url=gw.url, api_version="v1beta")
    )
    with pytest.raises(genai_errors.ClientError) as info:
        await gemini.aio.models.generate_content(model=POISON, contents="hello")
    assert info.value.code == 404


async def test_a_nul_in_the_model_stops_no_row_and_a_graceful_stop_loses_none(
    database_url: str, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    # Long flush interval: every row is still queued when the gateway stops.
    config = _config(fake_openai, database_url, tmp_path / "journal", usage_flush_interval_s=60)
    async with live_gateway(config, fake_openai) as gw:
        name, secret = await gw.new_key()
        await _poison_everywhere(gw, secret)
        async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=secret, max_retries=0) as client:
            await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            chunks = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
            async for _ in chunks:
                pass
        await asyncio.sleep(0.05)
        assert gw.state.usage.pending >= 5  # nothing written yet: the stop must write it all
    rows = await _rows(database_url, name)
    assert [(r["status"], r["endpoint"]) for r in rows[:3]] == [
        (404, "chat"),
        (404, "messages"),
        (404, "generate_content"),
    ]
    assert {r["model"] for r in rows[:3]} == {"nope\ufffd"}
    assert [(r["status"], r["model"], r["stream"]) for r in rows[3:]] == [
        (200, "gpt-4o-mini", False),
        (200, "gpt-4o-mini", True),
    ]
    assert all(r["prompt_tokens"] > 0 for r in rows[3:])
    assert list((tmp_path / "journal").glob("*.journal")) == []  # all landed: nothing to replay


async def test_a_refused_row_is_quarantined_listed_and_counted(
    database_url: str, fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(fake_openai, database_url, tmp_path / "journal", usage_flush_interval_s=0.05)
    async with live_gateway(config, fake_openai) as gw:
        writer = gw.state.usage
        real = writer._insert
        poison = f"poison-{uuid.uuid4().hex[:8]}"

        class Refused(Exception):
            sqlstate = "22021"  # what PostgreSQL says of a NUL byte

        async def insert(batch: list[UsageRow]) -> None:
            if any(r.model == poison for r in batch):
                raise Refused("invalid byte sequence for encoding UTF8: 0x00")
            await real(batch)

        monkeypatch.setattr(writer, "_insert", insert)
        name, secret = await gw.new_key()
        engine = gw.state.engine
        key = await KeyRepository(engine).by_name(name)
        assert key is not None
        bad = UsageRow(request_id=uuid.uuid4().hex, endpoint="chat", status=200, stream=False, key_id=key.id,
                       key_name=name, model=poison, cost_micros=123)  # fmt: skip
        writer.record(bad)
        async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=secret, max_retries=0) as client:
            await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        await writer.flush()
        assert [r["model"] for r in await gw.usage_rows(name)] == ["gpt-4o-mini"]  # the row behind it landed
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gw.url}/admin/usage/quarantine?limit=500") as resp:
                assert resp.status == 401
            auth = {"Authorization": f"Bearer {ADMIN}"}
            async with http.get(f"{gw.url}/admin/usage/quarantine?limit=500", headers=auth) as resp:
                assert resp.status == 200
                listed = await resp.json()
            async with http.get(f"{gw.url}/metrics") as resp:
                metrics = parse(await resp.text())
            async with http.get(f"{gw.url}/admin/openapi.json", headers=auth) as resp:
                assert resp.status == 200
                spec = await resp.json()
        (entry,) = [e for e in listed["data"] if e["request_id"] == bad.request_id]
        assert entry["row"]["model"] == poison and entry["row"]["cost_micros"] == 123
        assert "0x00" in entry["error"] and listed["total"] >= 1
        assert value(metrics, "hubgate_usage_quarantined_total") == 1
        assert value(metrics, "hubgate_usage_lag_seconds") is not None
        assert "/admin/usage/quarantine" in spec["paths"]
        async with engine.connect() as conn:
            spent = await conn.execute(
                select(usage_quarantine.c.id).where(usage_quarantine.c.row.contains(poison))
            )
            assert len(spent.all()) == 1
        refreshed = await KeyRepository(engine).by_name(name)
        assert refreshed is not None and refreshed.spent_micros == sum(
            r["cost_micros"] for r in await gw.usage_rows(name)
        )


async def test_readyz_turns_503_while_usage_rows_wait_too_long(
    database_url: str, fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(fake_openai, database_url, tmp_path / "journal", usage_flush_interval_s=0.05,
                     usage_max_lag_s=0.3)  # fmt: skip
    async with live_gateway(config, fake_openai) as gw, aiohttp.ClientSession() as http:
        writer = gw.state.usage

        async def down(batch: list[UsageRow]) -> None:
            raise ConnectionRefusedError("database down")

        monkeypatch.setattr(writer, "_insert", down)
        name, secret = await gw.new_key()
        async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=secret, max_retries=0) as client:
            await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        await asyncio.sleep(0.6)
        async with http.get(f"{gw.url}/readyz") as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body["usage"].startswith("error: the oldest unwritten usage row"), body
        monkeypatch.undo()
        await writer.flush()
        async with http.get(f"{gw.url}/readyz") as resp:
            assert resp.status == 200 and (await resp.json())["usage"] == "ok"
        assert len(await gw.usage_rows(name)) == 1
