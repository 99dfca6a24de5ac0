"""The model catalogue: list, create, change, switch and remove entries.

A change is visible at once in this process and within a second in every other (each
reloads the catalogue when its revision moves). Prices sent with an entry also become the
price charged for the model (stored as an admin price override).
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any

from aiohttp import web

from hubgate.admin.common import Conflict, audit, gateway, json_response, parse_body
from hubgate.admin.registry import AdminRoute
from hubgate.admin.routes_pricing import apply_price
from hubgate.admin.schemas_catalogue import MODEL_PATTERN, CatalogueCreate, CataloguePatch, CataloguePrices
from hubgate.errors import InvalidRequest, NotFound
from hubgate.gateway import Gateway
from hubgate.http.catalogue_routes import charged_prices, decimal_text
from hubgate.jobs.catalogue import reload_catalogue
from hubgate.metering.prices import price_from_settings
from hubgate.routing.catalogue import display_name, infer_vendor, modalities
from hubgate.settings import PriceSettings
from hubgate.storage.catalogue import CatalogueEntry, CatalogueExists, CatalogueRepository
from hubgate.storage.prices_store import PriceOverrideRepository

_TUPLES = ("input_modalities", "output_modalities", "tags")


def entry_view(gw: Gateway, e: CatalogueEntry) -> dict[str, Any]:
    """An entry as stored, with `charged` (the prices billed now) and the channels serving it."""
    route = gw.channels.resolve(e.model)
    served = route is not None and route.model == e.model
    return {
        "model": e.model,
        "vendor": e.vendor,
        "id": f"{e.vendor}/{e.model}",
        "name": e.name,
        "description": e.description,
        "context_length": e.context_length,
        "max_output_tokens": e.max_output_tokens,
        "input_modalities": list(e.input_modalities),
        "output_modalities": list(e.output_modalities),
        "prices": {k: decimal_text(v) for k, v in e.prices.items()},
        "charged": {k: decimal_text(v) for k, v in charged_prices(gw, e).items()},
        "tags": list(e.tags),
        "enabled": e.enabled,
        "channels": sorted(c.name for c in route.channels) if served and route is not None else [],
    }


def _model(request: web.Request) -> str:
    model = request.match_info["model"]
    if not re.fullmatch(MODEL_PATTERN, model):
        raise InvalidRequest(
            "Invalid path parameter 'model': 1 to 128 letters, digits and . _ : @ / -.", param="model"
        )
    return model


async def _existing(gw: Gateway, model: str) -> CatalogueEntry:
    entry = await CatalogueRepository(gw.engine).get(model)
    if entry is None:
        raise NotFound(f"No catalogue entry for model '{model}'.", param="model", code="model_not_found")
    return entry


def _prices(p: CataloguePrices) -> dict[str, Decimal]:
    return {k: v for k, v in p.model_dump().items() if v is not None}


async def _charge(gw: Gateway, model: str, prices: dict[str, Decimal]) -> None:
    """Bill the model at the catalogue's prices (nothing when it names none)."""
    if not prices:
        return
    unit = prices.get("per_second") or prices.get("per_image") or prices.get("per_request")
    settings = PriceSettings(
        input=prices.get("input", Decimal(0)),
        output=prices.get("output", Decimal(0)),
        cached_input=prices.get("cached_input"),
        cache_write=prices.get("cache_write"),
        per_request=unit,
    )
    await PriceOverrideRepository(gw.engine).put(model, settings)
    apply_price(gw, model, price_from_settings(settings))


def _changes(body: CataloguePatch) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in body.model_fields_set - {"model"}:
        value = getattr(body, name)
        if value is None and name not in ("context_length", "max_output_tokens"):
            continue  # null clears only the limits; the others keep their value
        if name == "prices":
            value = _prices(value)
        elif name in _TUPLES:
            value = tuple(value)
        changes[name] = value
    return changes


async def list_catalogue(request: web.Request) -> web.Response:
    gw = gateway(request)
    entries = await CatalogueRepository(gw.engine).all()
    return json_response({"object": "list", "data": [entry_view(gw, e) for e in entries]})


async def get_entry(request: web.Request) -> web.Response:
    gw = gateway(request)
    return json_response(entry_view(gw, await _existing(gw, _model(request))))


async def create_entry(request: web.Request) -> web.Response:
    gw = gateway(request)
    body = await parse_body(request, CatalogueCreate)
    inputs, outputs = modalities(body.model)
    entry = dataclasses.replace(
        CatalogueEntry(
            model=body.model,
            vendor=infer_vendor(body.model),
            name=display_name(body.model),
            input_modalities=inputs,
            output_modalities=outputs,
        ),
        **_changes(body),
    )
    try:
        await CatalogueRepository(gw.engine).create(entry)
    except CatalogueExists:
        raise Conflict(f"The catalogue already has model '{body.model}'.", param="model") from None
    await _charge(gw, entry.model, entry.prices)
    await reload_catalogue(gw)
    view = entry_view(gw, entry)
    await audit(request, "catalogue.create", entry.model, after=view)
    return json_response(view, status=201)


async def patch_entry(request: web.Request) -> web.Response:
    gw = gateway(request)
    before = await _existing(gw, _model(request))
    body = await parse_body(request, CataloguePatch)
    changes = _changes(body)
    entry = dataclasses.replace(before, **changes)
    if not await CatalogueRepository(gw.engine).replace(entry):
        raise NotFound(
            f"No catalogue entry for model '{entry.model}'.", param="model", code="model_not_found"
        )
    if "prices" in changes:
        await _charge(gw, entry.model, entry.prices)
    await reload_catalogue(gw)
    view = entry_view(gw, entry)
    await audit(request, "catalogue.update", entry.model, before=entry_view(gw, before), after=view)
    return json_response(view)


async def delete_entry(request: web.Request) -> web.Response:
    gw = gateway(request)
    before = await _existing(gw, _model(request))
    await CatalogueRepository(gw.engine).delete(before.model)
    await reload_catalogue(gw)
    await audit(request, "catalogue.delete", before.model, before=entry_view(gw, before))
    return json_response({"model": before.model, "deleted": True})


ROUTES = [
    AdminRoute("GET", "/admin/catalogue", list_catalogue, "List the model catalogue", "catalogue"),
    AdminRoute("POST", "/admin/catalogue", create_entry, "Add a model to the catalogue", "catalogue",
               body=CatalogueCreate, status=201),
    AdminRoute("GET", "/admin/catalogue/{model:.+}", get_entry, "One catalogue entry", "catalogue"),
    AdminRoute("PATCH", "/admin/catalogue/{model:.+}", patch_entry, "Change a catalogue entry (vendor, "
               "name, limits, modalities, prices, tags, enabled)", "catalogue", body=CataloguePatch),
    AdminRoute("DELETE", "/admin/catalogue/{model:.+}", delete_entry, "Remove a model from the catalogue",
               "catalogue"),
]  # fmt: skip
