"""Channels in bulk (switch on, off, remove or test the selected ones), one channel's
upstream balance, and one channel's traffic over the last day and week."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from hubgate.admin.common import audit, gateway, json_response, parse_body, usd
from hubgate.admin.registry import AdminRoute
from hubgate.admin.routes_channels import _admin, _one, _refresh, channel_settings
from hubgate.admin.schemas import _Body
from hubgate.errors import InvalidRequest, NotFound
from hubgate.gateway import Gateway
from hubgate.jobs.channel_checks import record_check
from hubgate.routing.balance import BalanceUnavailable, query_balance
from hubgate.routing.probe import test_channel
from hubgate.storage.admin_usage import UsageFilter, aggregate
from hubgate.storage.keys import utcnow

TEST_CONCURRENCY = 4
ChannelName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ChannelBulk(_Body):
    action: Literal["enable", "disable", "delete", "test"]
    names: list[ChannelName] = Field(min_length=1, max_length=500)


async def _apply(request: web.Request, gw: Gateway, action: str, name: str) -> dict[str, Any]:
    """One channel's part of a bulk action: its outcome, never an exception."""
    try:
        before = await _one(gw, name)
    except NotFound:
        return {"name": name, "ok": False, "error": f"No channel named '{name}'."}
    if action == "test":
        try:
            settings = await channel_settings(gw, name)
        except NotFound as exc:  # stored, but neither in the file nor made here any more
            return {"name": name, "ok": False, "error": exc.message}
        result = await test_channel(settings)
        disabled = await record_check(gw, result)
        await audit(request, "channels.test", name, after=result.as_dict())
        return {"name": name, "ok": result.ok, "result": result.as_dict(), "auto_disabled": disabled}
    if action == "delete":
        if before.get("source") != "admin":
            message = f"Channel '{name}' comes from the config file; switch it off instead."
            return {"name": name, "ok": False, "error": message}
        await _admin(gw).delete(name)
        await audit(request, "channels.delete", name, before=before)
        return {"name": name, "ok": True}
    enabled = action == "enable"
    await _admin(gw).set_enabled(name, enabled)
    await audit(request, "channels.update", name, before={"enabled": before["enabled"]},
                after={"enabled": enabled})  # fmt: skip
    return {"name": name, "ok": True}


async def bulk(request: web.Request) -> web.Response:
    gw = gateway(request)
    body = await parse_body(request, ChannelBulk)
    names = list(dict.fromkeys(body.names))
    _admin(gw)  # 400 when channel management is off
    if body.action == "test":
        gate = asyncio.Semaphore(TEST_CONCURRENCY)

        async def one(name: str) -> dict[str, Any]:
            async with gate:
                return await _apply(request, gw, "test", name)

        results = list(await asyncio.gather(*(one(n) for n in names)))
    else:
        results = [await _apply(request, gw, body.action, n) for n in names]
        await _refresh(gw)
    return json_response({"object": "list", "action": body.action, "data": results})


async def balance(request: web.Request) -> web.Response:
    gw = gateway(request)
    name = request.match_info["name"]
    settings = await channel_settings(gw, name)
    try:
        found = await query_balance(settings)
    except BalanceUnavailable as exc:
        raise InvalidRequest(f"No balance for channel '{name}': {exc}.", param="name") from None
    return json_response({"object": "channel.balance", **found.as_dict()})


async def usage_windows(gw: Gateway, channel: str | None) -> dict[str, dict[str, dict[str, Any]]]:
    """Per channel: requests, errors, tokens and cost over the last 24 hours and 7 days."""
    now = utcnow()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for window, since in (("24h", now - timedelta(hours=24)), ("7d", now - timedelta(days=7))):
        groups, _ = await aggregate(gw.engine, ["channel"], UsageFilter(channel=channel, since=since))
        for g in groups:
            out.setdefault(g.channel or "-", {})[window] = {
                "requests": g.requests,
                "errors": g.errors,
                "error_rate": round(g.errors / g.requests, 4) if g.requests else 0.0,
                "total_tokens": g.total_tokens,
                "cost_micros": g.cost_micros,
            }
    return out


async def channel_usage(request: web.Request) -> web.Response:
    gw = gateway(request)
    name = request.match_info["name"]
    await _one(gw, name)  # 404 for an unknown channel
    empty = {"requests": 0, "errors": 0, "error_rate": 0.0, "total_tokens": 0, "cost_micros": 0}
    windows = (await usage_windows(gw, name)).get(name, {})
    data = {w: windows.get(w, empty) for w in ("24h", "7d")}
    for stats in data.values():
        stats["cost_usd"] = usd(stats["cost_micros"])
    return json_response({"object": "channel.usage", "name": name, **data})


ROUTES = [
    AdminRoute("POST", "/admin/channels/bulk", bulk,
               "Switch on, switch off, remove or test several channels; one outcome per channel",
               "channels", body=ChannelBulk),
    AdminRoute("GET", "/admin/channels/{name}/balance", balance,
               "The channel's upstream balance (OpenAI-compatible billing dashboard)", "channels"),
    AdminRoute("GET", "/admin/channels/{name}/usage", channel_usage,
               "The channel's requests, errors, tokens and cost over the last 24 hours and 7 days",
               "channels"),
]  # fmt: skip
