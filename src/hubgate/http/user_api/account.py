"""The caller's own user, balance, ledger and usage: `/api/user/self` (read, and `PUT` to
change the saved console language), `/api/user/ledger`, `/api/log/self` and
`/api/log/self/stat` (new-api's paths and field names, plus hubgate's exact money fields)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hubgate.admin.common import iso, money
from hubgate.admin.views import ledger_view
from hubgate.errors import NotFound
from hubgate.http.user_api.common import (
    Caller,
    PageQuery,
    Query,
    gateway,
    ok,
    parse_query,
    quota,
    read_json,
    unix,
    validate,
)
from hubgate.http.user_api.keys import MAX_STAMP, stored_name
from hubgate.storage.user_queries import UsageQuery, ledger_rows, usage_rows, usage_stat
from hubgate.storage.users import User, UserRepository


class UserSelfBody(BaseModel):
    """What a user may change of their own user."""

    model_config = ConfigDict(extra="forbid")
    language: Literal["en", "zh_CN"] | None = Field(
        description="the console language, for your pages and the mail sent to you (`en`, `zh_CN`; "
        "`zh-CN` is accepted too); null: none saved, the browser's applies"
    )

    @field_validator("language", mode="before")
    @classmethod
    def _tag(cls, value: object) -> object:
        return value.replace("-", "_") if isinstance(value, str) else value


class LogFilter(Query):
    type: int = Field(default=0, ge=0, le=10, description="new-api log type: 0 all, 2 consumption")
    start_timestamp: int | None = Field(default=None, ge=0, le=MAX_STAMP, description="unix seconds")
    end_timestamp: int | None = Field(default=None, ge=0, le=MAX_STAMP, description="unix seconds")
    token_name: str | None = Field(default=None, max_length=40, description="the key's name")
    model_name: str | None = Field(default=None, max_length=128)

    def usage(self, account_id: int) -> UsageQuery:
        def at(stamp: int | None) -> datetime | None:
            return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None

        until = at(self.end_timestamp + 1) if self.end_timestamp is not None else None
        key = stored_name(account_id, self.token_name) if self.token_name else None
        return UsageQuery(account_id, at(self.start_timestamp), until, key, self.model_name or None)

    @property
    def empty(self) -> bool:
        """Every usage row is a consumption (type 2); other new-api types have none here."""
        return self.type not in (0, 2)


class LogPage(LogFilter, PageQuery):
    pass


async def user_self(request: web.Request, caller: Caller) -> web.Response:
    return await _self_view(request, caller.user)


async def update_self(request: web.Request, caller: Caller) -> web.Response:
    body = validate(UserSelfBody, await read_json(request))
    users = UserRepository(gateway(request).engine)
    await users.update(caller.user.id, language=body.language)
    user = await users.by_id(caller.user.id)
    if user is None:
        raise NotFound("The user no longer exists.")
    return await _self_view(request, user)


async def _self_view(request: web.Request, user: User) -> web.Response:
    gw = gateway(request)
    account = await gw.accounts.by_id(user.account_id)
    if account is None:
        raise NotFound("The user's account no longer exists.")
    used, count, _, _ = await usage_stat(gw.engine, UsageQuery(user.account_id))
    return ok(
        {
            "id": user.id,
            "username": user.email,
            "display_name": user.email.split("@", 1)[0],
            "email": user.email,
            "role": 10 if user.is_admin else 1,  # new-api: 1 user, 10 admin
            "status": 1,
            "group": account.group,
            "quota": quota(account.balance_micros),
            "used_quota": quota(used),
            "request_count": count,
            "account_id": account.id,
            "limited": account.limited,
            **money("balance", account.balance_micros),
            **money("used", used),
            "created_at": iso(user.created_at),
            "language": user.language,
        }
    )


async def ledger(request: web.Request, caller: Caller) -> web.Response:
    q = parse_query(request, PageQuery)
    entries, total = await ledger_rows(
        gateway(request).engine, caller.user.account_id, offset=q.offset, limit=q.limit
    )
    items = [
        {**ledger_view(e), "quota": quota(e.amount_micros), "created_time": unix(e.created_at)}
        for e in entries
    ]
    return ok(q.page(items, total))


def _log_view(row: dict[str, Any], account_id: int, user_id: int) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": user_id,
        "created_at": unix(row["created_at"]),
        "type": 2,
        "content": row["error"] or "",
        "token_name": (row["key_name"] or "").removeprefix(stored_name(account_id, "")),
        "token_id": row["key_id"],
        "model_name": row["model"] or "",
        "quota": quota(int(row["cost_micros"])),
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "use_time": int(row["latency_ms"]) // 1000,
        "is_stream": bool(row["stream"]),
        "group": "",
        "request_id": row["request_id"],
        "endpoint": row["endpoint"],
        "status": row["status"],
        "cached_tokens": row["cached_tokens"],
        "latency_ms": row["latency_ms"],
        **money("cost", int(row["cost_micros"])),
        "time": iso(row["created_at"]),
    }


async def logs(request: web.Request, caller: Caller) -> web.Response:
    q = parse_query(request, LogPage)
    account_id = caller.user.account_id
    if q.empty:
        return ok(q.page([], 0))
    rows, total = await usage_rows(
        gateway(request).engine, q.usage(account_id), offset=q.offset, limit=q.limit
    )
    return ok(q.page([_log_view(r, account_id, caller.user.id) for r in rows], total))


async def log_stat(request: web.Request, caller: Caller) -> web.Response:
    q = parse_query(request, LogFilter)
    if q.empty:
        return ok({"quota": 0, "rpm": 0, "tpm": 0, "requests": 0, **money("cost", 0)})
    cost, count, rpm, tpm = await usage_stat(gateway(request).engine, q.usage(caller.user.account_id))
    return ok({"quota": quota(cost), "rpm": rpm, "tpm": tpm, "requests": count, **money("cost", cost)})
