"""Channels managed at run time: created, changed, switched off and removed through the
admin API, upstream keys sealed at rest, and every replica following within seconds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from sqlalchemy import text

from hubgate.settings import parse_settings
from tests.admin.helpers import ADMIN_KEY, Admin
from tests.conftest import LiveGateway, _serve
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

SECRET_KEY = "test-secret-key-for-sealing-0123456789"


@pytest.fixture
async def pair(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[tuple[Admin, Admin]]:
    """Two gateways on one database, as two replicas."""
    config: dict[str, Any] = {
        "database_url": database_url,
        "admin_key": ADMIN_KEY,
        "secret_key": SECRET_KEY,
        "usage_flush_interval_s": 0.05,
        "channels": [
            {"name": "cfg-chan", "type": "openai", "base_url": fake_openai.base_url,
             "api_key": DEFAULT_API_KEY, "models": ["cfg-model"], "model_map": {"cfg-model": "gpt-4o-mini"}},
        ],
    }  # fmt: skip
    settings = parse_settings(config, env={})
    one, two = await _serve(settings), await _serve(settings)
    try:
        yield (
            Admin(LiveGateway(url=one[2], app=one[1], settings=settings, fake=fake_openai)),
            Admin(LiveGateway(url=two[2], app=two[1], settings=settings, fake=fake_openai)),
        )
    finally:
        await one[0].cleanup()
        await two[0].cleanup()


async def _works(admin: Admin, secret: str, model: str) -> bool:
    try:
        await admin.ask(secret, model)
        return True
    except (openai.NotFoundError, openai.PermissionDeniedError):
        return False


async def _eventually(admin: Admin, secret: str, model: str, want: bool) -> None:
    deadline = asyncio.get_running_loop().time() + 20  # the watchers poll every second; a loaded
    while asyncio.get_running_loop().time() < deadline:  # machine can delay a poll by seconds
        if await _works(admin, secret, model) == want:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"{model} on {admin.url} never became {'served' if want else 'unserved'}")


async def test_channel_lifecycle_across_replicas(pair: tuple[Admin, Admin]) -> None:
    a, b = pair
    name = f"rt-{uuid.uuid4().hex[:6]}"
    model = f"rt-model-{uuid.uuid4().hex[:6]}"
    _, secret = await a.new_key()
    body = {
        "name": name, "type": "openai", "base_url": a.live.fake.base_url,
        "api_keys": [DEFAULT_API_KEY], "models": [model], "model_map": {model: "gpt-4o-mini"},
        "headers": {"x-upstream-secret": "hdr-secret-value"},
    }  # fmt: skip
    created = await a.ok("POST", "/admin/channels", body, 201)
    assert created["upstream_keys"] == 1 and created["source"] == "admin"
    listing = str(await a.ok("GET", "/admin/channels"))
    assert DEFAULT_API_KEY not in listing and "hdr-secret-value" not in listing
    assert await _works(a, secret, model)  # at once on the replica that made it
    await _eventually(b, secret, model, True)  # and within seconds on the other
    # Sealed at rest: neither the key nor the header value is in the database in clear.
    async with a.live.state.engine.connect() as conn:
        dump = str((await conn.execute(text("SELECT * FROM channels WHERE name = :n"), {"n": name})).one())
        audit = str((await conn.execute(text("SELECT * FROM audit_log"))).all())
    assert DEFAULT_API_KEY not in dump and "hdr-secret-value" not in dump
    assert DEFAULT_API_KEY not in audit and "hdr-secret-value" not in audit
    # The upstream got the sealed header and key.
    sent = a.live.fake.requests[-1]
    assert sent.headers["x-upstream-secret"] == "hdr-secret-value"
    # Switched off through one replica, refused by both.
    await b.ok("PATCH", f"/admin/channels/{name}", {"enabled": False})
    assert not await _works(b, secret, model)
    await _eventually(a, secret, model, False)
    await a.ok("PATCH", f"/admin/channels/{name}", {"enabled": True, "priority": 3})
    await _eventually(b, secret, model, True)
    tested = await a.ok("POST", f"/admin/channels/{name}/test")
    assert tested["ok"] is True and tested["latency_ms"] >= 0
    listed = (await a.ok("GET", "/admin/channels"))["data"]
    assert any(c["name"] == name and c["last_test_status"] == 200 for c in listed)
    await a.ok("DELETE", f"/admin/channels/{name}")
    await _eventually(b, secret, model, False)


async def test_config_channels_can_only_be_switched(pair: tuple[Admin, Admin]) -> None:
    a, b = pair
    status, err = await a.call("PATCH", "/admin/channels/cfg-chan", json={"priority": 9})
    assert status == 400 and err["error"]["param"] == "priority"
    status, _ = await a.call("DELETE", "/admin/channels/cfg-chan")
    assert status == 400
    _, secret = await a.new_key()
    await a.ok("PATCH", "/admin/channels/cfg-chan", {"enabled": False})
    await _eventually(b, secret, "cfg-model", False)
    await a.ok("PATCH", "/admin/channels/cfg-chan", {"enabled": True})
    await _eventually(b, secret, "cfg-model", True)


async def test_bad_channel_bodies_name_the_field(pair: tuple[Admin, Admin]) -> None:
    a, _ = pair
    status, err = await a.call(
        "POST",
        "/admin/channels",
        json={"name": "x y", "type": "openai", "base_url": "ftp://nope", "models": []},
    )
    assert status == 400 and err["error"]["param"] in ("name", "base_url", "models")
    status, err = await a.call(
        "POST", "/admin/channels", json={"name": "cfg-chan", "type": "echo", "models": ["m"]}
    )
    assert status == 409
