"""Groups and prices set through the admin API: charged from the next request on, and
still in force after a restart (stored, and re-applied at start)."""

from __future__ import annotations

from typing import Any

from tests.admin.helpers import PRICED_MODEL, Admin, unique
from tests.conftest import LiveGateway, _serve


async def _cost(admin: Admin, key_name: str, secret: str, model: str) -> tuple[int, Any]:
    reply = await admin.ask(secret, model)
    logs = await admin.ok("GET", f"/admin/usage/logs?key={key_name}&limit=1")
    return logs["data"][0]["cost_micros"], reply.usage


async def test_groups_list_config_and_admin_multipliers(admin_gateway: Admin) -> None:
    group = unique("grp")
    body = await admin_gateway.ok("PUT", f"/admin/groups/{group}", {"multiplier": 0.25})
    assert body == {"name": group, "multiplier": "0.25", "source": "admin"}
    account = await admin_gateway.account("100", group=group)
    groups = {g["name"]: g for g in (await admin_gateway.ok("GET", "/admin/groups"))["data"]}
    assert groups["default"]["source"] == "config" and groups["default"]["multiplier"] == "1"
    assert groups["adm-half"]["multiplier"] == "0.5"
    assert groups[group] == {"name": group, "multiplier": "0.25", "source": "admin", "accounts": 1}
    name, secret = await admin_gateway.new_key(account=account)
    cost, usage = await _cost(admin_gateway, name, secret, "gpt-4o-mini")
    full = usage.prompt_tokens * 1000 + usage.completion_tokens * 2000
    assert cost == full // 4
    await admin_gateway.ok("PUT", f"/admin/groups/{group}", {"multiplier": "2"})
    cost, usage = await _cost(admin_gateway, name, secret, "gpt-4o-mini")
    assert cost == 2 * (usage.prompt_tokens * 1000 + usage.completion_tokens * 2000)


async def test_price_override_applies_at_once_and_after_a_restart(admin_gateway: Admin) -> None:
    name, secret = await admin_gateway.new_key()
    cost, _ = await _cost(admin_gateway, name, secret, PRICED_MODEL)
    assert cost == 0  # no built-in or config price for this name
    body = await admin_gateway.ok("PUT", f"/admin/pricing/{PRICED_MODEL}", {"input": "3000", "output": 4000})
    assert body["source"] == "admin" and body["input"] == "3000" and body["output"] == "4000"
    cost, usage = await _cost(admin_gateway, name, secret, PRICED_MODEL)
    assert cost == usage.prompt_tokens * 3000 + usage.completion_tokens * 4000 > 0

    table = {p["model"]: p for p in (await admin_gateway.ok("GET", "/admin/pricing"))["data"]}
    assert table[PRICED_MODEL]["source"] == "admin"
    assert table["gpt-4o-mini"]["source"] == "config" and table["gpt-4o-mini"]["input"] == "1000"
    assert any(p["source"] == "builtin" for p in table.values())

    # A fresh process on the same database charges the stored price and multiplier.
    group = unique("grp")
    await admin_gateway.ok("PUT", f"/admin/groups/{group}", {"multiplier": "0.5"})
    account = await admin_gateway.account("100", group=group)
    grouped_name, grouped_secret = await admin_gateway.new_key(account=account)
    live = admin_gateway.live
    runner, app, url = await _serve(live.settings)
    try:
        restarted = Admin(LiveGateway(url=url, app=app, settings=live.settings, fake=live.fake))
        cost, usage = await _cost(restarted, name, secret, PRICED_MODEL)
        assert cost == usage.prompt_tokens * 3000 + usage.completion_tokens * 4000
        cost, usage = await _cost(restarted, grouped_name, grouped_secret, PRICED_MODEL)
        assert cost == (usage.prompt_tokens * 3000 + usage.completion_tokens * 4000) // 2
    finally:
        await runner.cleanup()
