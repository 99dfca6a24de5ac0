"""The caller's own API keys through new-api's token routes (`/api/token/...`).

Bodies may use new-api's names (`expired_time`, `remain_quota`, `unlimited_quota`,
`model_limits_enabled`, `model_limits`, `allow_ips`) or hubgate's (`expires_at`,
`budget_usd`, `models`, `allowed_ips`, `budget_period`, `rpm`, `tpm`); either way they
are checked by the admin API's own `KeyLimits` model, so both refuse the same input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import Field

from hubgate.admin.schemas import KeyLabel, KeyLimits, key_columns
from hubgate.admin.views import key_view
from hubgate.errors import InvalidRequest, NotFound, PermissionDenied
from hubgate.http.user_api.common import (
    MICROS_PER_QUOTA,
    Caller,
    PageQuery,
    gateway,
    int_param,
    ok,
    parse_query,
    quota,
    read_json,
    unix,
    validate,
)
from hubgate.storage.keys import KeyExists, KeyRecord, utcnow
from hubgate.storage.user_queries import account_keys, delete_key

MAX_STAMP = 253_402_300_798  # 9999-12-31, so that a following second is still a date
Label = KeyLabel
# Read-only fields a new-api client sends back when it PUTs a whole token object.
_ECHOED = frozenset(
    {"id", "user_id", "key", "status", "created_time", "accessed_time", "used_quota", "group"}
)


class Conflict(InvalidRequest):
    status = 409


class KeyCreateBody(KeyLimits):
    name: Label = Field(description="1 to 40 letters, digits, '.', '_' or '-'; unique among your keys")


class KeyUpdateBody(KeyLimits):
    name: Label | None = None


class TokenSearch(PageQuery):
    keyword: str = Field(default="", max_length=64, description="part of the key's name")
    token: str = Field(default="", max_length=64, description="part of the key's display prefix")


def stored_name(account_id: int, label: str) -> str:
    """Key names are unique gateway-wide; an account's keys carry its id (as the console's do)."""
    return f"u{account_id}-{label}"


def _status(k: KeyRecord, now: datetime) -> int:
    """new-api's token status: 1 enabled, 2 disabled, 3 expired, 4 budget spent."""
    if k.revoked_at is not None:
        return 2
    if k.expires_at is not None and k.expires_at <= now:
        return 3
    if k.budget_micros is not None and _remaining(k) <= 0:
        return 4
    return 1


def _remaining(k: KeyRecord) -> int:
    spent = k.period_spent_micros if k.budget_period is not None else k.spent_micros
    return max(0, (k.budget_micros or 0) - spent)


def view(k: KeyRecord, account_id: int, now: datetime) -> dict[str, Any]:
    """new-api's token fields, then hubgate's exact ones (money in USD strings)."""
    models = sorted(k.models) if k.models is not None else None
    explicit = key_view(k, None, now)
    return {
        **explicit,
        "id": k.id,
        "name": k.name.removeprefix(stored_name(account_id, "")),
        "key": k.key_prefix,  # the secret itself is in the create answer only
        "status": _status(k, now),
        "state": explicit["status"],  # hubgate's: active, revoked or expired
        "created_time": unix(k.created_at),
        "accessed_time": 0,
        "expired_time": unix(k.expires_at, -1),
        "remain_quota": quota(_remaining(k)) if k.budget_micros is not None else 0,
        "unlimited_quota": k.budget_micros is None,
        "used_quota": quota(k.spent_micros),
        "model_limits_enabled": models is not None,
        "model_limits": ",".join(models or []),
        "allow_ips": ",".join(k.allowed_ips or ()),
        "group": "",
    }


def _split(value: Any, field: str) -> list[str]:
    if isinstance(value, list):
        return list(value)  # the items are checked by KeyLimits
    if isinstance(value, str):
        return [x for x in re.split(r"[,\s]+", value) if x]
    raise InvalidRequest(
        f"Invalid field '{field}': expected a list or a comma-separated string.", param=field
    )


def _int(data: dict[str, Any], field: str) -> int:
    value = data[field]
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 10**15:
        raise InvalidRequest(f"Invalid field '{field}': expected an integer.", param=field)
    return value


def from_new_api(data: dict[str, Any], spent_micros: int = 0) -> dict[str, Any]:
    """Map new-api's field names onto hubgate's; hubgate's own names win when both are sent."""
    out = {k: v for k, v in data.items() if k not in _ECHOED}
    if "expired_time" in out:
        stamp = _int(out, "expired_time")
        del out["expired_time"]
        if stamp != -1 and not 0 <= stamp <= MAX_STAMP:
            message = "Invalid field 'expired_time': unix seconds up to 9999-12-31, or -1 (never)."
            raise InvalidRequest(message, param="expired_time")
        out.setdefault("expires_at", None if stamp == -1 else datetime.fromtimestamp(stamp, UTC))
    unlimited = out.pop("unlimited_quota", None)
    if "remain_quota" in out:
        remain = _int(out, "remain_quota")
        del out["remain_quota"]
        if remain < 0:
            raise InvalidRequest("Invalid field 'remain_quota': must not be negative.", param="remain_quota")
        if unlimited is not True:
            out.setdefault("budget_usd", Decimal(spent_micros + remain * MICROS_PER_QUOTA).scaleb(-6))
    if unlimited is True:
        out.setdefault("budget_usd", None)
    enabled = out.pop("model_limits_enabled", None)
    if "model_limits" in out:
        models = _split(out.pop("model_limits"), "model_limits")
        if enabled is not False:
            out.setdefault("models", models or None)
    if enabled is False:
        out.setdefault("models", None)
    if "allow_ips" in out:
        out.setdefault("allowed_ips", _split(out.pop("allow_ips"), "allow_ips") or None)
        out.pop("allow_ips", None)
    return out


async def _own(request: web.Request, caller: Caller, key_id: int) -> KeyRecord:
    """One of the caller's keys: 404 when no key has this id, 403 when another account's."""
    record = await gateway(request).key_repo.by_id(key_id)
    if record is None:
        raise NotFound(f"No API key with id {key_id}.", param="id")
    if record.account_id != caller.user.account_id:
        raise PermissionDenied(f"API key {key_id} belongs to another user.", param="id")
    return record


async def list_keys(request: web.Request, caller: Caller) -> web.Response:
    q = parse_query(request, PageQuery)
    account_id = caller.user.account_id
    records, total = await account_keys(gateway(request).engine, account_id, offset=q.offset, limit=q.limit)
    now = utcnow()
    return ok(q.page([view(r, account_id, now) for r in records], total))


async def search_keys(request: web.Request, caller: Caller) -> web.Response:
    q = parse_query(request, TokenSearch)
    account_id = caller.user.account_id
    records, _ = await account_keys(
        gateway(request).engine, account_id, offset=q.offset, limit=q.limit,
        name_like=q.keyword or None, prefix_like=q.token or None,
    )  # fmt: skip
    now = utcnow()
    return ok([view(r, account_id, now) for r in records])


async def get_key(request: web.Request, caller: Caller) -> web.Response:
    record = await _own(request, caller, int_param(request, "id"))
    return ok(view(record, caller.user.account_id, utcnow()))


async def create_key(request: web.Request, caller: Caller) -> web.Response:
    body = validate(KeyCreateBody, from_new_api(await read_json(request)))
    gw = gateway(request)
    account_id = caller.user.account_id
    try:
        record, secret = await gw.key_repo.create(
            stored_name(account_id, body.name),
            account_id=account_id,
            source="user_api",
            **key_columns(body, set(KeyCreateBody.model_fields)),
        )
    except KeyExists:
        raise Conflict(f"You already have a key named '{body.name}'.", param="name") from None
    return ok({**view(record, account_id, utcnow()), "key": secret}, status=201)


async def update_key(request: web.Request, caller: Caller) -> web.Response:
    """PUT /api/token/ with the key's `id` in the body; `?status_only=true` changes only `status`."""
    data = await read_json(request)
    if "id" not in data:
        raise InvalidRequest("Missing required field 'id'.", param="id")
    gw = gateway(request)
    record = await _own(request, caller, _id(data))
    now = utcnow()
    if request.query.get("status_only", "").lower() in ("true", "1"):
        await _set_status(request, record, data.get("status"), now)
    else:
        body = validate(KeyUpdateBody, from_new_api(data, record.spent_micros))
        values = key_columns(body, body.model_fields_set)
        if body.name is not None and stored_name(caller.user.account_id, body.name) != record.name:
            values["name"] = stored_name(caller.user.account_id, body.name)
            if await gw.key_repo.by_name(values["name"]) is not None:
                raise Conflict(f"You already have a key named '{body.name}'.", param="name")
        if values:
            await gw.key_repo.update_settings(record.name, **values)
        if "status" in data:
            record = await _own(request, caller, record.id)
            await _set_status(request, record, data["status"], now)
    gw.keys.invalidate()
    return ok(view(await _own(request, caller, record.id), caller.user.account_id, utcnow()))


def _id(data: dict[str, Any]) -> int:
    value = data["id"]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequest("Invalid field 'id': expected a positive integer.", param="id")
    return value


async def _set_status(request: web.Request, record: KeyRecord, status: Any, now: datetime) -> None:
    """1 enables (un-revokes) a key, 2 disables (revokes) it."""
    if status not in (1, 2):
        raise InvalidRequest("Invalid field 'status': 1 (enabled) or 2 (disabled).", param="status")
    repo = gateway(request).key_repo
    if status == 2:
        await repo.revoke(record.name)
        return
    if record.expires_at is not None and record.expires_at <= now:
        raise InvalidRequest(
            "The key has expired: change its expiry (or set -1, never) before enabling it.", param="status"
        )
    await repo.update_settings(record.name, revoked_at=None)


async def remove_key(request: web.Request, caller: Caller) -> web.Response:
    record = await _own(request, caller, int_param(request, "id"))
    gw = gateway(request)
    await gw.key_repo.revoke(record.name)  # refused at once even by a cache that still holds it
    await delete_key(gw.engine, record.id)
    gw.keys.invalidate()
    return ok()
