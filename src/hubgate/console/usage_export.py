"""Usage-log rows as people read them: keys by the name their owner gave them (a console
key is stored as `u<account>-<name>`), accounts by name, costs in dollars; and the CSV
export of a filtered log, streamed page by page."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.console.format import plain_dollars
from hubgate.storage.admin_lists import KeyOrigin, account_names, key_origins
from hubgate.storage.admin_usage import UsageFilter, logs_page

_TOKENS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens")
USER_CSV = (
    "created_at", "request_id", "key", "endpoint", "model", "channel", "status", "stream", *_TOKENS,
    "units", "unit", "cost_usd", "latency_ms", "ttfb_ms", "error",
)  # fmt: skip
ADMIN_CSV = (
    "created_at", "request_id", "account", "key", "key_name", "endpoint", "model", "channel", "status",
    "stream", *_TOKENS, "units", "unit", "cost_usd", "cost_micro_usd", "latency_ms", "ttfb_ms", "attempts",
    "error",
)  # fmt: skip


def key_prefix(account_id: int) -> str:
    """Key names are unique across the gateway; a console key's stored name carries its account."""
    return f"u{account_id}-"


def shown_key(origin: KeyOrigin | None, stored: str | None) -> str:
    """A key's name as its owner knows it; a key made elsewhere keeps its stored name."""
    if origin is None:
        return stored or "-"
    if origin.source == "console" and origin.account_id is not None:
        return origin.name.removeprefix(key_prefix(origin.account_id))
    return origin.name


async def name_rows(engine: AsyncEngine, rows: list[dict[str, Any]], *, accounts: bool = False) -> None:
    """Add to each log row: `key` (its shown name), `cost_usd`, `cost_micro_usd`, and with
    `accounts` the account's name as `account`."""
    origins = await key_origins(engine, {int(r["key_id"]) for r in rows if r.get("key_id") is not None})
    names: dict[int, str] = {}
    if accounts:
        names = await account_names(engine, {int(r["account_id"]) for r in rows if r.get("account_id")})
    for r in rows:
        origin = origins.get(int(r["key_id"])) if r.get("key_id") is not None else None
        r["key"] = shown_key(origin, r.get("key_name"))
        r["cost_usd"] = plain_dollars(int(r.get("cost_micros") or 0))
        r["cost_micro_usd"] = r.get("cost_micros")
        if accounts:
            account_id = r.get("account_id")
            r["account"] = names.get(int(account_id), f"#{account_id}") if account_id else "-"


async def stream_csv(
    request: web.Request, filename: str, columns: tuple[str, ...], pages: AsyncIterator[list[list[object]]]
) -> web.StreamResponse:
    """A CSV download written page by page as `pages` yields rows (never all in memory)."""
    resp = web.StreamResponse(headers={
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": f'attachment; filename="{filename}"',
        "cache-control": "no-store",
    })  # fmt: skip
    await resp.prepare(request)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    async for rows in pages:
        writer.writerows(rows)
        await resp.write(buf.getvalue().encode())
        buf.seek(0)
        buf.truncate()
    await resp.write_eof()
    return resp


async def export_csv(
    request: web.Request,
    engine: AsyncEngine,
    flt: UsageFilter,
    filename: str,
    *,
    admin: bool = False,
) -> web.StreamResponse:
    """Every matching row as CSV, page by page (never the whole log in memory)."""
    columns = ADMIN_CSV if admin else USER_CSV

    async def pages() -> AsyncIterator[list[list[object]]]:
        cursor: int | None = None
        while True:
            rows, cursor = await logs_page(engine, flt, limit=1000, cursor=cursor)
            await name_rows(engine, rows, accounts=admin)
            yield [[cell(row.get(f)) for f in columns] for row in rows]
            if cursor is None:
                return

    return await stream_csv(request, filename, columns, pages())


def cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # spreadsheets must not run a cell as a formula
    return "" if value is None else value
