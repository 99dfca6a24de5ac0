"""API keys: list, create (the secret is returned once), read, change settings, revoke.

Every change drops this process's key cache, so it applies to the next request; other
replicas see it within about a second (their revision watch, access/watch.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubgate.admin.common import Conflict, audit, gateway, json_response, page, parse_body, parse_query
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import KeyCreate, KeyPatch, KeysQuery, key_columns
from hubgate.admin.views import key_view
from hubgate.errors import InvalidRequest, NotFound
from hubgate.gateway import Gateway
from hubgate.storage.admin_lists import account_names, keys_page
from hubgate.storage.keys import KeyExists, KeyRecord, utcnow


async def _views(gw: Gateway, records: list[KeyRecord]) -> list[dict[str, Any]]:
    def account_id(r: KeyRecord) -> int:
        return r.account_id if r.account_id is not None else gw.billing.default_account_id

    names = await account_names(gw.engine, {account_id(r) for r in records})
    now = utcnow()
    return [key_view(r, names.get(account_id(r)), now) for r in records]


async def _view(gw: Gateway, record: KeyRecord) -> dict[str, Any]:
    return (await _views(gw, [record]))[0]


async def _find(gw: Gateway, name: str) -> KeyRecord:
    record = await gw.key_repo.by_name(name)
    if record is None:
        raise NotFound(f"No API key named '{name}'.", param="name", code="key_not_found")
    return record


async def list_keys(request: web.Request) -> web.Response:
    gw = gateway(request)
    q = parse_query(request, KeysQuery)
    account_id = None
    if q.account is not None:
        account = await gw.accounts.by_name(q.account)
        if account is None:
            raise NotFound(f"No account named '{q.account}'.", param="account", code="account_not_found")
        account_id = account.id
    records, nxt = await keys_page(gw.engine, limit=q.limit, cursor=q.cursor, account_id=account_id)
    return json_response(page(await _views(gw, records), nxt))


async def create_key(request: web.Request) -> web.Response:
    gw = gateway(request)
    body = await parse_body(request, KeyCreate)
    account_id = gw.billing.default_account_id
    if body.account is not None:
        account = await gw.accounts.by_name(body.account)
        if account is None:
            raise InvalidRequest(
                f"Invalid field 'account': unknown account '{body.account}'.", param="account"
            )
        account_id = account.id
    try:
        record, secret = await gw.key_repo.create(
            body.name,
            account=body.account,
            account_id=account_id,
            source="admin",
            **key_columns(body, set(KeyCreate.model_fields)),
        )
    except KeyExists:
        raise Conflict(f"An API key named '{body.name}' already exists.", param="name") from None
    view = await _view(gw, record)
    await audit(request, "keys.create", record.name, after=view)
    return json_response({**view, "secret": secret}, status=201)


async def get_key(request: web.Request) -> web.Response:
    gw = gateway(request)
    return json_response(await _view(gw, await _find(gw, request.match_info["name"])))


async def patch_key(request: web.Request) -> web.Response:
    gw = gateway(request)
    body = await parse_body(request, KeyPatch)
    before = await _find(gw, request.match_info["name"])
    values = key_columns(body, body.model_fields_set)
    if not values:  # nothing sent, nothing changed, nothing to audit
        return json_response(await _view(gw, before))
    await gw.key_repo.update_settings(before.name, **values)
    gw.keys.invalidate()
    after_view = await _view(gw, await _find(gw, before.name))
    await audit(request, "keys.update", before.name, before=await _view(gw, before), after=after_view)
    return json_response(after_view)


async def revoke_key(request: web.Request) -> web.Response:
    gw = gateway(request)
    before = await _find(gw, request.match_info["name"])
    after = await gw.key_repo.revoke(before.name)
    assert after is not None
    gw.keys.invalidate()
    after_view = await _view(gw, after)
    await audit(request, "keys.revoke", before.name, before=await _view(gw, before), after=after_view)
    return json_response(after_view)


ROUTES = [
    AdminRoute("GET", "/admin/keys", list_keys, "List API keys (never their secrets)", "keys",
               query=KeysQuery),
    AdminRoute("POST", "/admin/keys", create_key, "Create an API key; the secret is in this answer only",
               "keys", body=KeyCreate, status=201),
    AdminRoute("GET", "/admin/keys/{name}", get_key, "Read an API key", "keys"),
    AdminRoute("PATCH", "/admin/keys/{name}", patch_key,
               "Change a key's models, budget, limits, expiry, allowed IPs or multiplier", "keys",
               body=KeyPatch),
    AdminRoute("DELETE", "/admin/keys/{name}", revoke_key, "Revoke an API key (at once)", "keys"),
]  # fmt: skip
