"""The playground: a chat answer streamed from any model the viewer's keys may use.

The browser never holds a key's secret (it is shown once, at creation): it names one
of the viewer's own keys by id, and the request runs through the same relay as an
API call made with that key, so limits, budgets, billing and the usage log apply.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.console.user_views import label, own_key, own_keys, viewer
from hubgate.console.web import gateway, render, signed_in
from hubgate.errors import AuthenticationFailed, InvalidRequest, NotFound, PermissionDenied
from hubgate.formats import openai as oa
from hubgate.formats.registry import WireFormat
from hubgate.gateway import Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.http.client_ip import client_ip
from hubgate.providers.base import Endpoint
from hubgate.relay import Call, relay
from hubgate.storage.keys import KeyRecord, utcnow

MAX_MESSAGES = 100


@signed_in
async def page(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    served = sorted({m for m, _ in gw.channels.models()})
    now = utcnow()
    usable = [k for k in await own_keys(request) if k.refusal(now) is None]
    keys = [{"id": k.id, "label": label(k), "models": [m for m in served if k.allows(m)]} for k in usable]
    return render(request, "playground.html", keys=keys)


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
        raise NotFound("No such key.", param="key_id")

    async def auth(gw: Gateway, request: web.Request) -> KeyRecord:
        fresh = await gw.key_repo.by_name(key.name)  # revocations made a moment ago count
        if fresh is None or fresh.account_id != viewer(request).user.account_id:
            raise NotFound("No such key.", param="key_id")
        refusal = fresh.refusal(utcnow())
        if refusal is not None:
            raise AuthenticationFailed(refusal)
        if not fresh.admits_ip(client_ip(request, gw.trusted_proxies)):
            raise PermissionDenied("This API key may not be used from this address.", code="ip_not_allowed")
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
