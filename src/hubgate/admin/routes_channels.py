"""Channels, read-only: the stored rows joined with what this process is serving.

Upstream API keys and header values are never shown, only how many keys a channel has.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.admin.common import gateway, json_response
from hubgate.admin.registry import AdminRoute
from hubgate.gateway import Gateway
from hubgate.routing.channels import Channel
from hubgate.storage.channels import ChannelRepository


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


ROUTES = [
    AdminRoute("GET", "/admin/channels", list_channels,
               "List channels (upstream keys are never shown, only counted)", "channels"),
]  # fmt: skip
