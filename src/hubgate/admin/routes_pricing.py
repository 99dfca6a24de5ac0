"""Pricing: the effective price table (built-in, then config `pricing:`, then admin
overrides; the later wins) and per-model overrides set at run time.

An override is stored (table `price_overrides`), applied to the running Billing at
once and again at every start.
"""

from __future__ import annotations

from aiohttp import web

from hubgate.admin.common import audit, gateway, json_response, parse_body
from hubgate.admin.registry import AdminRoute
from hubgate.admin.schemas import PricePut
from hubgate.admin.views import price_view
from hubgate.errors import InvalidRequest
from hubgate.gateway import Gateway
from hubgate.metering.prices import BUILTIN_PRICES, PRICES_SOURCE_DATE, Price, price_from_settings
from hubgate.settings import PriceSettings
from hubgate.storage.prices_store import PriceOverrideRepository


async def effective_prices(gw: Gateway) -> dict[str, tuple[Price, str]]:
    """Every priced model name with its price and where it comes from."""
    table: dict[str, tuple[Price, str]] = {m: (p, "builtin") for m, p in BUILTIN_PRICES.items()}
    for model, p in gw.settings.pricing.items():
        table[model] = (price_from_settings(p), "config")
    for model, p in (await PriceOverrideRepository(gw.engine).all()).items():
        table[model] = (price_from_settings(p), "admin")
    return table


def apply_price(gw: Gateway, model: str, price: Price) -> None:
    """Make the running Billing charge `model` at `price`."""
    # TODO(billing): Billing.set_price(model: str, price: Price) -> None is being added to
    # billing.py by its owner; drop this ignore once it exists.
    gw.billing.set_price(model, price)


async def list_prices(request: web.Request) -> web.Response:
    table = await effective_prices(gateway(request))
    data = [price_view(model, price, source) for model, (price, source) in sorted(table.items())]
    return json_response({"object": "list", "builtin_as_of": PRICES_SOURCE_DATE.isoformat(), "data": data})


async def put_price(request: web.Request) -> web.Response:
    gw = gateway(request)
    model = request.match_info["model"]
    if not model or len(model) > 128 or any(c.isspace() for c in model):
        raise InvalidRequest(
            "Invalid path parameter 'model': 1 to 128 characters, no whitespace.", param="model"
        )
    body = await parse_body(request, PricePut)
    settings = PriceSettings.model_validate(body.model_dump())
    price = price_from_settings(settings)
    previous = (await effective_prices(gw)).get(model)
    await PriceOverrideRepository(gw.engine).put(model, settings)
    apply_price(gw, model, price)
    view = price_view(model, price, "admin")
    before = price_view(model, *previous) if previous is not None else None
    await audit(request, "pricing.put", model, before=before, after=view)
    return json_response(view)


ROUTES = [
    AdminRoute("GET", "/admin/pricing", list_prices,
               "The effective price table (USD per 1M tokens) and each entry's source", "pricing"),
    AdminRoute("PUT", "/admin/pricing/{model:.+}", put_price, "Set a model's price (overrides built-in "
               "and config prices)", "pricing", body=PricePut),
]  # fmt: skip
