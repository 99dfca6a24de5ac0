"""What callers see of the catalogue: the model cards of `GET /v1/models` (OpenAI's fields
plus OpenRouter's `name`, `description`, `context_length`, `pricing`, `architecture`,
`top_provider`) and the public price list `GET /api/pricing` (new-api's `{success, data}`).

Prices shown are the ones charged: the running price table (built-in, config `pricing:`,
admin overrides) where it knows the model, else the catalogue entry's own prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from hubgate.gateway import GATEWAY, Gateway
from hubgate.routing.catalogue import infer_vendor, modalities, price_fields
from hubgate.storage.catalogue import CatalogueEntry
from hubgate.storage.keys import KeyRecord

MILLION = Decimal(1_000_000)
TOKEN_FIELDS = ("input", "output", "cached_input", "cache_write")
# Our price fields -> OpenRouter's `pricing` keys (tokens in USD per token, units in USD each).
_OPENROUTER = {
    "input": "prompt",
    "output": "completion",
    "cached_input": "input_cache_read",
    "cache_write": "input_cache_write",
    "per_image": "image",
    "per_request": "request",
    "per_second": "second",
}


def decimal_text(value: Decimal) -> str:
    """Plain text without exponent or trailing zeros: Decimal("0.0000025000") -> "0.0000025"."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class Listed:
    """A served model as callers see it: its catalogue entry (or one guessed from its id)."""

    model: str
    channel_type: str
    entry: CatalogueEntry
    in_catalogue: bool
    id: str = ""  # the name the caller may use: the bare id, or `vendor/model` when only that is allowed

    @property
    def public_id(self) -> str:
        return self.id or self.model


def _guessed(model: str) -> CatalogueEntry:
    inputs, outputs = modalities(model)
    return CatalogueEntry(model=model, vendor=infer_vendor(model), name=model,
                          input_modalities=inputs, output_modalities=outputs)  # fmt: skip


def listed_models(gw: Gateway, key: KeyRecord | None = None) -> list[Listed]:
    """Every served model that is not switched off in the catalogue (and, given a key, that
    the key may use under its bare or its `vendor/model` name)."""
    out: list[Listed] = []
    for model, channel in gw.channels.models():
        entry = gw.catalogue.get(model)
        if entry is not None and not entry.enabled:
            continue
        shown = entry or _guessed(model)
        public = model
        if key is not None and not key.allows(model):
            if entry is None or not key.allows(f"{entry.vendor}/{model}"):
                continue
            public = f"{entry.vendor}/{model}"
        out.append(Listed(model, channel.type, shown, entry is not None, public))
    return out


def charged_prices(gw: Gateway, entry: CatalogueEntry) -> dict[str, Decimal]:
    """The entry's prices, with the running price table's where it prices the model."""
    prices = dict(entry.prices)
    price = gw.billing.price_for(entry.model)
    if price is not None:
        for name in (*TOKEN_FIELDS, "per_image", "per_second", "per_request"):
            prices.pop(name, None)
        prices.update(price_fields(price, entry.output_modalities))
    return prices


def openrouter_pricing(prices: dict[str, Decimal]) -> dict[str, str]:
    return {
        _OPENROUTER[name]: decimal_text(value / MILLION if name in TOKEN_FIELDS else value)
        for name, value in prices.items()
        if name in _OPENROUTER
    }


def model_card(gw: Gateway, item: Listed) -> dict[str, Any]:
    """One `GET /v1/models` entry."""
    e = item.entry
    inputs, outputs = list(e.input_modalities), list(e.output_modalities)
    card: dict[str, Any] = {
        "id": item.public_id,
        "object": "model",
        "created": gw.started_at,
        "owned_by": e.vendor if item.in_catalogue else item.channel_type,
        "name": e.name,
        "description": e.description,
        "context_length": e.context_length,
        "architecture": {
            "modality": f"{'+'.join(inputs)}->{'+'.join(outputs)}",
            "input_modalities": inputs,
            "output_modalities": outputs,
        },
        "top_provider": {"context_length": e.context_length, "max_completion_tokens": e.max_output_tokens},
    }
    prices = charged_prices(gw, e)
    if prices:
        card["pricing"] = openrouter_pricing(prices)
    return card


def served_card(gw: Gateway, requested: str, model: str, channel_type: str) -> dict[str, Any]:
    """The card of one model asked for by name (`GET /v1/models/{model}`), under that name."""
    entry = gw.catalogue.get(model)
    card = model_card(gw, Listed(model, channel_type, entry or _guessed(model), entry is not None))
    card["id"] = requested
    return card


def pricing_item(gw: Gateway, item: Listed) -> dict[str, Any]:
    """One `GET /api/pricing` entry: new-api's `model_name`, `owner_by` and `quota_type`
    (0: by tokens, 1: by call or unit) with our exact prices beside them."""
    e = item.entry
    prices = charged_prices(gw, e)
    by_tokens = any(prices.get(f) for f in ("input", "output")) or not prices
    return {
        "model_name": item.model,
        "vendor": e.vendor,
        "owner_by": e.vendor,
        "ids": [item.model, f"{e.vendor}/{item.model}"] if item.in_catalogue else [item.model],
        "name": e.name,
        "description": e.description,
        "tags": list(e.tags),
        "context_length": e.context_length,
        "max_output_tokens": e.max_output_tokens,
        "input_modalities": list(e.input_modalities),
        "output_modalities": list(e.output_modalities),
        "quota_type": 0 if by_tokens else 1,
        "prices": {name: decimal_text(value) for name, value in prices.items()},
        "pricing": openrouter_pricing(prices),
    }


def vendors(items: list[Listed]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.entry.vendor] = counts.get(item.entry.vendor, 0) + 1
    return [{"name": name, "models": n} for name, n in sorted(counts.items())]


async def pricing(request: web.Request) -> web.Response:
    """Public (no key): every model served here with its vendor, limits and prices.
    `prices`: USD per 1M tokens, per image, per second, per request; `pricing`: per token."""
    gw = request.app[GATEWAY]
    items = listed_models(gw)
    body = {
        "success": True,
        "message": "",
        "data": [pricing_item(gw, item) for item in items],
        "vendors": vendors(items),
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/pricing", pricing)
