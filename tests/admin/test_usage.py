"""Usage reports: SQL aggregation by key, model, channel and UTC day on both backends, and
the usage log in keyset pages, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest

from tests.admin.helpers import Admin


async def _traffic(admin: Admin) -> tuple[str, str]:
    """Four requests of a fresh key: two gpt-4o-mini and one alt-model served, one failing."""
    name, secret = await admin.new_key()
    await admin.ask(secret)
    await admin.ask(secret)
    await admin.ask(secret, "alt-model")
    with pytest.raises(openai.InternalServerError):
        await admin.ask(secret, "fail-500")
    return name, secret


def _by(rows: list[dict[str, Any]], field: str) -> dict[Any, dict[str, Any]]:
    return {r[field]: r for r in rows}


async def test_usage_is_grouped_by_key_model_channel_and_day(admin_gateway: Admin) -> None:
    name, _ = await _traffic(admin_gateway)
    logs = (await admin_gateway.ok("GET", f"/admin/usage/logs?key={name}"))["data"]
    assert len(logs) == 4
    by_model = await admin_gateway.ok("GET", f"/admin/usage?key={name}&group_by=model")
    assert by_model["group_by"] == ["model"]
    models = _by(by_model["data"], "model")
    assert set(models) == {"gpt-4o-mini", "alt-model", "fail-500"}
    assert models["gpt-4o-mini"]["requests"] == 2 and models["gpt-4o-mini"]["errors"] == 0
    assert models["fail-500"]["requests"] == 1 and models["fail-500"]["errors"] == 1
    assert set(models["gpt-4o-mini"]) >= {"prompt_tokens", "completion_tokens", "total_tokens", "cost_usd"}
    expected = sum(r["cost_micros"] for r in logs if r["model"] == "gpt-4o-mini")
    assert models["gpt-4o-mini"]["cost_micros"] == expected > 0
    totals = by_model["totals"]
    assert totals["requests"] == 4 and totals["errors"] == 1
    assert totals["cost_micros"] == sum(r["cost_micros"] for r in logs)
    assert totals["prompt_tokens"] == sum(r["prompt_tokens"] for r in logs)

    channels = _by(
        (await admin_gateway.ok("GET", f"/admin/usage?key={name}&group_by=channel"))["data"], "channel"
    )
    assert {c: v["requests"] for c, v in channels.items()} == {"adm-main": 3, "adm-alt": 1}

    days = (await admin_gateway.ok("GET", f"/admin/usage?key={name}&group_by=day"))["data"]
    logged_days = {datetime.fromisoformat(r["created_at"]).astimezone(UTC).date().isoformat() for r in logs}
    assert {d["day"] for d in days} == logged_days and sum(d["requests"] for d in days) == 4

    full = (await admin_gateway.ok("GET", f"/admin/usage?key={name}&group_by=key,model,channel,day"))["data"]
    assert len(full) == 3 * len(logged_days)
    assert all(r["key"] == name and r["day"] in logged_days for r in full)
    assert list(full[0])[:4] == ["key", "model", "channel", "day"]


async def test_usage_filters_by_time_model_and_channel(admin_gateway: Admin) -> None:
    name, _ = await _traffic(admin_gateway)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    none = await admin_gateway.ok("GET", f"/admin/usage?key={name}&since={future}")
    assert none["totals"]["requests"] == 0 and none["data"] == []
    some = await admin_gateway.ok(
        "GET", f"/admin/usage?key={name}&since={past}&until={future}&model=alt-model"
    )
    assert some["totals"]["requests"] == 1
    assert (await admin_gateway.ok("GET", f"/admin/usage?key={name}&channel=adm-main"))["totals"][
        "requests"
    ] == 3
    # The whole gateway: this key is part of it.
    everything = await admin_gateway.ok("GET", "/admin/usage?group_by=key&limit=10000")
    assert _by(everything["data"], "key")[name]["requests"] == 4


async def test_usage_logs_page_newest_first(admin_gateway: Admin) -> None:
    name, secret = await _traffic(admin_gateway)
    seen: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(10):
        page = await admin_gateway.ok("GET", f"/admin/usage/logs?key={name}&limit=1{cursor}")
        seen += page["data"]
        if not page["has_more"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    ids = [r["id"] for r in seen]
    assert len(ids) == 4 and ids == sorted(ids, reverse=True)
    assert [r["model"] for r in seen] == ["fail-500", "alt-model", "gpt-4o-mini", "gpt-4o-mini"]
    assert all(r["key_name"] == name and secret not in str(r) for r in seen)
    assert seen[0]["status"] == 500 and seen[0]["error"]
    assert all(
        r["cost_usd"] == f"{r['cost_micros'] // 1_000_000}.{r['cost_micros'] % 1_000_000:06d}" for r in seen
    )
    failed = await admin_gateway.ok("GET", f"/admin/usage/logs?key={name}&status=500")
    assert [r["id"] for r in failed["data"]] == [ids[0]]
