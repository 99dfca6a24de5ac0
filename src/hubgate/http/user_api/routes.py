"""The user API's route table: read both by the router and by the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from hubgate.http.user_api import account, keys
from hubgate.http.user_api.common import Caller, PageQuery

Handler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class UserRoute:
    method: str
    path: str  # OpenAPI form; the router's is the same ({id} is digits-only, checked by the handler)
    handler: Handler
    summary: str
    tag: str
    answer: str = "`data`: the answer"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True


ROUTES = [
    UserRoute("GET", "/api/user/self", account.user_self, "Your user, balance and totals", "user",
              "`data`: id, email, role, group, `quota`/`used_quota`, `balance_usd`/`used_usd`, `language`"),
    UserRoute("PUT", "/api/user/self", account.update_self,
              "Change your user: `language`, the saved console language (pages and mail)", "user",
              "`data`: your user, as GET answers it", body=account.UserSelfBody),
    UserRoute("GET", "/api/user/ledger", account.ledger, "Your account's ledger (credits and debits)", "user",
              "`data`: {items, total, page, page_size}", query=PageQuery),
    UserRoute("GET", "/api/token/", keys.list_keys, "List your API keys (never their secrets)", "keys",
              "`data`: {items, total, page, page_size}", query=PageQuery),
    UserRoute("GET", "/api/token/search", keys.search_keys, "Search your API keys by name or prefix", "keys",
              "`data`: a list of keys", query=keys.TokenSearch),
    UserRoute("POST", "/api/token/", keys.create_key,
              "Create an API key; `data.key` is its secret, shown in this answer only", "keys",
              "`data`: the key", body=keys.KeyCreateBody, status=201),
    UserRoute("PUT", "/api/token/", keys.update_key,
              "Change a key (`id` in the body): models, budget, expiry, IPs, rpm, tpm, name, status "
              "(1 enabled, 2 disabled); `?status_only=true` changes only `status`", "keys",
              "`data`: the key", body=keys.KeyUpdateBody),
    UserRoute("GET", "/api/token/{id}", keys.get_key, "Read one of your API keys", "keys", "`data`: the key"),
    UserRoute("DELETE", "/api/token/{id}", keys.remove_key, "Delete one of your API keys (at once)", "keys",
              "`data`: null"),
    UserRoute("GET", "/api/log/self", account.logs, "Your usage rows, newest first", "usage",
              "`data`: {items, total, page, page_size}", query=account.LogPage),
    UserRoute("GET", "/api/log/self/stat", account.log_stat, "Your usage totals", "usage",
              "`data`: quota and cost over the filter, rpm and tpm over the last 60 s",
              query=account.LogFilter),
]  # fmt: skip
