"""Channels: the stored rows joined with what this process is serving, and run-time
management (create, change, switch on/off, remove, test, re-enable after cooldowns).

Upstream API keys and header values are write-only: never shown, only counted. Channels
from the config file can be switched off and tested here; the rest of their settings
belong to the file.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from hubgate.admin.common import Conflict, audit, gateway, json_response, validation_error
from hubgate.admin.registry import AdminRoute
from hubgate.errors import InvalidRequest, NotFound
from hubgate.gateway import Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.jobs.channel_checks import record_check
from hubgate.providers import registry
from hubgate.providers.channel import Channel
from hubgate.routing.probe import test_channel
from hubgate.routing.runtime import channel_table, load_runtime
from hubgate.settings import ChannelSettings
from hubgate.storage.channels import AdminChannels, ChannelExists, ChannelRepository
from hubgate.storage.secrets import SecretsUnavailable


def _running(ch: Channel) -> dict[str, Any]:
    return {
        "running": True,
        "models": sorted(ch.models),
        "model_map": dict(ch.model_map),
        "priority": ch.priority,
        "weight": ch.weight,
        "timeout_s": ch.timeout_s,
        "api_version": ch.api_version,
        "api": ch.api,
        "upstream_keys": len(ch.api_keys),
        "header_names": sorted(ch.headers),
    }


async def _rows(gw: Gateway) -> list[dict[str, Any]]:
    return [
        {
            "object": "channel",
            "id": r.id,
            "name": r.name,
            "type": r.type,
            "base_url": r.base_url,
            "models": list(r.models),
            "priority": r.priority,
            "weight": r.weight,
            "enabled": r.enabled,
            "source": r.source,
            "last_test_status": r.last_test_status,
            "last_test_latency_ms": r.last_test_latency_ms,
            "last_test_error": r.last_test_error,
            "last_tested_at": r.last_tested_at.isoformat() if r.last_tested_at else None,
            "failed_checks": r.failed_checks,
            "auto_disabled_at": r.auto_disabled_at.isoformat() if r.auto_disabled_at else None,
            "auto_disabled_reason": r.auto_disabled_reason,
        }
        for r in await ChannelRepository(gw.engine).all()
    ]


async def list_channels(request: web.Request) -> web.Response:
    gw = gateway(request)
    data: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in await _rows(gw):
        seen.add(row["name"])
        running = gw.channels.channel(row["name"])
        data.append({**row, **(_running(running) if running is not None else {"running": False})})
    for ch in gw.channels.channels:  # serving but not stored: not expected, shown all the same
        if ch.name not in seen:
            data.append({"object": "channel", "name": ch.name, "type": ch.type, "base_url": ch.base_url,
                         "enabled": True, "source": "runtime", **_running(ch)})  # fmt: skip
    return json_response({"object": "list", "data": data})


class ChannelSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


def _admin(gw: Gateway) -> AdminChannels:
    if gw.admin_channels is None:
        raise InvalidRequest("Channel management is not available.")
    return gw.admin_channels


async def _refresh(gw: Gateway) -> None:
    """Serve the change here at once; other replicas pick it up from the database."""
    gw.channels = channel_table(gw.settings, await load_runtime(_admin(gw)))


def _validated(data: dict[str, Any]) -> ChannelSettings:
    try:
        return registry.channel(data)
    except ValidationError as exc:
        raise validation_error(exc, "field") from None


def _seal_errors(exc: SecretsUnavailable) -> InvalidRequest:
    return InvalidRequest(f"{exc}.", param="api_keys")


async def _one(gw: Gateway, name: str) -> dict[str, Any]:
    for row in await _rows(gw):
        if row["name"] == name:
            running = gw.channels.channel(name)
            view = {**row, **(_running(running) if running is not None else {"running": False})}
            view["health"] = [h for h in gw.health.snapshot() if h["channel"] == name]
            return view
    raise NotFound(f"No channel named '{name}'.", param="name")


async def create_channel(request: web.Request) -> web.Response:
    gw = gateway(request)
    data = parse_object(await read_body(request, gw.max_body_bytes))
    ch = _validated(data)
    if any(c.name == ch.name for c in gw.settings.channels):
        raise Conflict(f"A channel named '{ch.name}' comes from the config file.", param="name")
    try:
        await _admin(gw).create(ch)
    except ChannelExists:
        raise Conflict(f"A channel named '{ch.name}' already exists.", param="name") from None
    except SecretsUnavailable as exc:
        raise _seal_errors(exc) from None
    await _refresh(gw)
    view = await _one(gw, ch.name)
    await audit(request, "channels.create", ch.name, after=view)
    return json_response(view, status=201)


async def update_channel(request: web.Request) -> web.Response:
    gw = gateway(request)
    name = request.match_info["name"]
    data = parse_object(await read_body(request, gw.max_body_bytes))
    stored = await _admin(gw).settings_of(name)
    if stored is None:
        raise NotFound(f"No channel named '{name}'.", param="name")
    before = await _one(gw, name)
    _, current = stored
    if current is None:  # from the config file: only the switch is ours to change
        extra = sorted(set(data) - {"enabled"})
        if extra:
            raise InvalidRequest(
                f"Channel '{name}' comes from the config file; only 'enabled' can change here.",
                param=extra[0],
            )
        switch = ChannelSwitch.model_validate(data) if data else ChannelSwitch(enabled=True)
        await _admin(gw).set_enabled(name, switch.enabled)
    else:
        merged = current.model_dump(mode="json", exclude_none=True)
        if "api_key" in data or "api_keys" in data:  # write-only secrets are replaced, not merged
            merged.pop("api_key", None)
            merged.pop("api_keys", None)
        merged.update(data)
        if "name" in data and data["name"] != name:
            raise InvalidRequest("A channel cannot be renamed; create a new one.", param="name")
        ch = _validated(merged)
        try:
            await _admin(gw).replace(ch)
            await _admin(gw).set_enabled(name, ch.enabled)
        except SecretsUnavailable as exc:
            raise _seal_errors(exc) from None
    await _refresh(gw)
    view = await _one(gw, name)
    await audit(request, "channels.update", name, before=before, after=view)
    return json_response(view)


async def delete_channel(request: web.Request) -> web.Response:
    gw = gateway(request)
    name = request.match_info["name"]
    before = await _one(gw, name)
    if before.get("source") != "admin":
        raise InvalidRequest(
            f"Channel '{name}' comes from the config file; switch it off instead.", param="name"
        )
    await _admin(gw).delete(name)
    await _refresh(gw)
    await audit(request, "channels.delete", name, before=before)
    return json_response({"object": "channel", "name": name, "deleted": True})


async def channel_settings(gw: Gateway, name: str) -> ChannelSettings:
    """A stored channel's full settings (secrets included), from the database or the file."""
    stored = await _admin(gw).settings_of(name)
    if stored is None:
        raise NotFound(f"No channel named '{name}'.", param="name")
    settings = stored[1] or next((c for c in gw.settings.channels if c.name == name), None)
    if settings is None:
        raise NotFound(f"No settings for channel '{name}'.", param="name")
    return settings


async def test_channel_route(request: web.Request) -> web.Response:
    """Send one tiny request through the channel; record status and latency (failures in a
    row may switch it off, see `channel_auto_disable_after`)."""
    gw = gateway(request)
    name = request.match_info["name"]
    result = await test_channel(await channel_settings(gw, name))
    disabled = await record_check(gw, result)
    await audit(request, "channels.test", name, after=result.as_dict())
    return json_response({"object": "channel.test", **result.as_dict(), "auto_disabled": disabled})


async def enable_channel(request: web.Request) -> web.Response:
    """Re-enable keys set aside after auth failures and end the channel's cooldowns."""
    gw = gateway(request)
    name = request.match_info["name"]
    before = await _one(gw, name)
    gw.health.enable(name)
    await audit(request, "channels.enable", name, before=before["health"])
    return json_response(await _one(gw, name))


ROUTES = [
    AdminRoute("GET", "/admin/channels", list_channels,
               "List channels (upstream keys are never shown, only counted)", "channels"),
    AdminRoute("POST", "/admin/channels", create_channel,
               "Create a channel (same fields as the config file; upstream keys are write-only)", "channels",
               status=201),
    AdminRoute("PATCH", "/admin/channels/{name}", update_channel,
               "Change a channel (config-file channels: only 'enabled')", "channels"),
    AdminRoute("DELETE", "/admin/channels/{name}", delete_channel,
               "Remove a channel created here", "channels"),
    AdminRoute("POST", "/admin/channels/{name}/test", test_channel_route,
               "Send one tiny request through the channel and record latency and status", "channels"),
    AdminRoute("POST", "/admin/channels/{name}/enable", enable_channel,
               "End cooldowns and re-enable upstream keys set aside", "channels"),
]  # fmt: skip
