"""What every user-API handler shares: the personal-access-token check, the
`{success, message, data}` envelope new-api callers expect, errors in that envelope with
the right status, and new-api's `p` / `page_size` paging.

Money: hubgate counts integer micro-dollars; new-api counts "quota" units of which
500,000 make one US dollar. Answers carry both: `*_usd` (exact decimal strings) and
`quota`-style integers (micro-dollars / 2, rounded down).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hubgate.admin.common import validation_error
from hubgate.errors import AuthenticationFailed, GatewayError, InvalidRequest
from hubgate.gateway import GATEWAY, Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.storage.keys import utcnow
from hubgate.storage.user_tokens import UserToken, UserTokenRepository
from hubgate.storage.users import User, UserRepository

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
QUOTA_PER_USD = 500_000  # new-api's unit: quota = micro-dollars / 2
MICROS_PER_QUOTA = 1_000_000 // QUOTA_PER_USD
CALLER = web.RequestKey("user_api_caller", object)


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    token: UserToken


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def quota(micros: int) -> int:
    return micros // MICROS_PER_QUOTA


def unix(value: datetime | None, none: int = 0) -> int:
    return int(value.timestamp()) if value is not None else none


def ok(data: Any = None, message: str = "", status: int = 200) -> web.Response:
    body = {"success": True, "message": message, "data": data}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def failure(message: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
    body = orjson.dumps({"success": False, "message": message})
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


async def authenticate(request: web.Request) -> Caller:
    """The user behind `Authorization: Bearer <personal access token>` (401 otherwise).
    new-api callers also send `New-Api-User: <id>`; when present it must name that user."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthenticationFailed("Missing personal access token: send 'Authorization: Bearer <token>'.")
    gw = gateway(request)
    token = await UserTokenRepository(gw.engine).by_secret(secret.strip())
    now = utcnow()
    if token is None or not token.usable(now):
        raise AuthenticationFailed("Invalid, revoked or expired personal access token.")
    user = await UserRepository(gw.engine).by_id(token.user_id)
    if user is None or user.disabled:
        raise AuthenticationFailed("The token's user is disabled.")
    claimed = request.headers.get("New-Api-User")
    if claimed is not None and claimed.strip() != str(user.id):
        raise AuthenticationFailed("New-Api-User does not match the token's user.")
    await UserTokenRepository(gw.engine).touch(token, now)
    return Caller(user, token)


def user_api(handler: Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]) -> Handler:
    """Authenticate, run, and answer every error as `{success: false, message}` with its status."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request, await authenticate(request))
        except GatewayError as err:
            return failure(err.message, err.status, err.headers or None)
        except web.HTTPException as exc:
            return failure(exc.text or exc.reason, exc.status)

    wrapped.__name__ = handler.__name__
    return wrapped


class Query(BaseModel):
    """Query strings: unknown parameters are ignored (SDKs send extras)."""

    model_config = ConfigDict(extra="ignore")


class PageQuery(Query):
    p: int = Field(default=1, ge=1, le=1_000_000, description="page number, from 1")
    page_size: int | None = Field(default=None, ge=1, le=100, description="rows per page (default 20)")
    size: int | None = Field(default=None, ge=1, le=100, description="alias of page_size")

    @property
    def limit(self) -> int:
        return self.page_size or self.size or 20

    @property
    def offset(self) -> int:
        return (self.p - 1) * self.limit

    def page(self, items: list[Any], total: int) -> dict[str, Any]:
        return {"items": items, "total": total, "page": self.p, "page_size": self.limit}


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_error(exc, "parameter") from None


async def read_json(request: web.Request) -> dict[str, Any]:
    raw = await read_body(request, gateway(request).max_body_bytes)
    return parse_object(raw)


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, "field") from None


def int_param(request: web.Request, name: str) -> int:
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise InvalidRequest(f"Invalid '{name}': expected a positive integer, got '{text[:40]}'.", param=name)
    return int(text)
