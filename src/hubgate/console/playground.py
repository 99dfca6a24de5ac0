"""The playground: a chat answer streamed from any model the viewer's keys may use.

The browser never holds a key's secret (it is shown once, at creation): it names one
of the viewer's own keys by id, and the request runs through the same relay as an
API call made with that key, so limits, budgets, billing and the usage log apply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from hubgate.access.network import client_ip
from hubgate.admin.session import gateway
from hubgate.console import model_choice
from hubgate.console.i18n import _
from hubgate.console.user_views import label, own_key, own_keys, viewer
from hubgate.console.web import render, signed_in
from hubgate.errors import AuthenticationFailed, InvalidRequest, NotFound, PermissionDenied
from hubgate.formats import openai as oa
from hubgate.formats.registry import WireFormat
from hubgate.gateway import Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.providers.base import Endpoint
from hubgate.providers.channel import Channel
from hubgate.relay.call import Call
from hubgate.relay.dispatch import relay
from hubgate.storage.admin_usage import UsageFilter, aggregate
from hubgate.storage.channels import ChannelRepository
from hubgate.storage.keys import KeyRecord, utcnow

MAX_MESSAGES = 100
USED_SINCE = timedelta(days=30)  # "the viewer's most used model" counts this far back


@signed_in
async def page(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    chat, healthy = await _chat_models(gw)
    now = utcnow()
    usable = [k for k in await own_keys(request) if k.refusal(now) is None]
    most_used = await _most_used(gw, viewer(request).user.account_id, now)
    keys = []
    for k in usable:
        offer = model_choice.for_key(sorted(k.models) if k.models else None, chat, healthy, most_used)
        keys.append({"id": k.id, "label": label(k), "models": offer.models, "default": offer.default or "",
                     "note": offer.note or ""})  # fmt: skip
    return render(request, "playground.html", keys=keys)


async def _chat_models(gw: Gateway) -> tuple[list[str], set[str]]:
    """The chat models served now, and those with at least one healthy channel (no failed last
    test, and not every upstream key cooling down or set aside for that model)."""
    by_model: dict[str, list[Channel]] = {}
    for ch in gw.channels.channels:
        for model in ch.models:
            by_model.setdefault(model, []).append(ch)
    failed = {row.name for row in await ChannelRepository(gw.engine).all() if row.last_test_error}
    blocked: dict[tuple[str, str], int] = {}
    for h in gw.health.snapshot():
        if h["state"] in ("open", "disabled"):
            where = (str(h["channel"]), str(h["model"]))
            blocked[where] = blocked.get(where, 0) + 1
    chat = sorted(m for m, chs in by_model.items() if model_choice.is_chat_model(m, (c.type for c in chs)))

    def serves(c: Channel, model: str) -> bool:
        return c.name not in failed and blocked.get((c.name, model), 0) < max(1, len(c.api_keys))

    return chat, {m for m in chat if any(serves(c, m) for c in by_model[m])}


async def _most_used(gw: Gateway, account_id: int, now: datetime) -> list[str]:
    flt = UsageFilter(account_id=account_id, since=now - USED_SINCE)
    groups, _totals = await aggregate(gw.engine, ["model"], flt)
    ranked = sorted((g for g in groups if g.model), key=lambda g: -g.requests)
    return [str(g.model) for g in ranked]


@signed_in
async def chat(request: web.Request) -> web.StreamResponse:
    """POST {key_id, model, messages, temperature?} -> the OpenAI chat stream of that key."""
    gw = gateway(request)
    body = parse_object(await read_body(request, gw.max_body_bytes))
    key_id = body.get("key_id")
    if not isinstance(key_id, int) or isinstance(key_id, bool):
        raise InvalidRequest("key_id must be the id of one of your keys.", param="key_id")
    key = await own_key(request, key_id)
    if key is None:
        raise NotFound(_("No such key."), param="key_id")

    async def auth(gw: Gateway, request: web.Request) -> KeyRecord:
        fresh = await gw.key_repo.by_name(key.name)  # revocations made a moment ago count
        if fresh is None or fresh.account_id != viewer(request).user.account_id:
            raise NotFound(_("No such key."), param="key_id")
        refusal = fresh.refusal(utcnow())
        if refusal is not None:
            raise AuthenticationFailed(refusal)
        if not fresh.admits_ip(client_ip(request, gw.trusted_proxies)):
            raise PermissionDenied(
                _("This API key may not be used from this address."), code="ip_not_allowed"
            )
        return fresh

    async def prepare(key: KeyRecord) -> Call:
        chat_body = _chat_body(body)
        info = oa.check_chat(chat_body)
        return Call(WireFormat.OPENAI_CHAT, Endpoint.CHAT, chat_body, info.model, True, False)

    return await relay(gw, request, "chat", prepare, auth)


def _chat_body(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        raise InvalidRequest(f"messages must be a list of 1 to {MAX_MESSAGES} messages.", param="messages")
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages, "stream": True}
    temperature = body.get("temperature")
    if temperature is not None:
        out["temperature"] = temperature
    return out
