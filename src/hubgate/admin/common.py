"""What every admin handler shares: request parsing and validation, the JSON answer,
money as exact strings and integer micro-dollars, list pages, and the audit trail."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from hubgate.admin.auth import ACTOR as CONSOLE_ACTOR
from hubgate.errors import InvalidRequest
from hubgate.gateway import GATEWAY, Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.storage.audit import AuditRepository

M = TypeVar("M", bound=BaseModel)

ACTOR = "admin"


class Conflict(InvalidRequest):
    """The resource already exists (409)."""

    status = 409
    code = "already_exists"


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_error(exc: ValidationError, what: str) -> InvalidRequest:
    """A pydantic error as a 400 whose message and `param` name the offending field."""
    problems: list[str] = []
    first: str | None = None
    for err in exc.errors(include_url=False):
        loc = _loc(tuple(err["loc"]))
        first = first if first is not None else (loc or None)
        if err["type"] == "missing":
            problems.append(f"missing required {what} '{loc}'")
        elif err["type"] == "extra_forbidden":
            problems.append(f"unknown {what} '{loc}'")
        else:
            detail = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"invalid {what} '{loc}': {detail}" if loc else detail)
    message = "; ".join(problems)
    return InvalidRequest(message[:1].upper() + message[1:] + ".", param=first)


async def parse_body(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    """The JSON body validated against `model`; 400 naming the field otherwise. `optional`:
    an empty body means every field at its default."""
    raw = await read_body(request, gateway(request).max_body_bytes)
    data = {} if optional and not raw.strip() else parse_object(raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, "field") from None


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string validated against `model`; 400 naming the parameter otherwise."""
    data: dict[str, str] = {}
    for name in request.query:
        values = request.query.getall(name)
        if len(values) > 1:
            raise InvalidRequest(f"Query parameter '{name}' is given more than once.", param=name)
        data[name] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, "query parameter") from None


def usd(micros: int) -> str:
    """Integer micro-dollars as an exact USD string with six decimals: 12500000 -> "12.500000"."""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{'-' if micros < 0 else ''}{whole}.{frac:06d}"


def money(name: str, micros: int | None) -> dict[str, Any]:
    """`{name}_usd` (exact string) and `{name}_micros` (integer), both None when unset."""
    return {f"{name}_usd": usd(micros) if micros is not None else None, f"{name}_micros": micros}


def decimal_text(value: Decimal | None) -> str | None:
    """A Decimal as plain text without exponent or trailing zeros: Decimal("0.150") -> "0.15"."""
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def page(data: list[Any], next_cursor: int | None) -> dict[str, Any]:
    """A list answer; pass `next_cursor` back as `?cursor=` for the next page."""
    return {
        "object": "list",
        "data": data,
        "has_more": next_cursor is not None,
        "next_cursor": str(next_cursor) if next_cursor is not None else None,
    }


async def audit(
    request: web.Request, action: str, target: str | None, *, before: Any = None, after: Any = None
) -> None:
    """Write the audit entry of an admin change (secrets are redacted by the repository)."""
    actor = request.get(CONSOLE_ACTOR, ACTOR)
    await AuditRepository(gateway(request).engine).record(actor, action, target, before=before, after=after)
