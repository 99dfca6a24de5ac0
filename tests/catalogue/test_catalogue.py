"""The model catalogue over HTTP: seeded, edited by the admin API, shown by /v1/models,
/api/pricing and /ui/models, and `vendor/model` ids routed with failover."""

from __future__ import annotations

import asyncio
import dataclasses
import html

import openai
import pytest

from hubgate.storage.catalogue import CatalogueRepository
from tests.catalogue.conftest import ALL_KEY, GPT41_ONLY_KEY, VENDOR_ID_KEY, call
from tests.conftest import LiveGateway

HELLO = [{"role": "user", "content": "hi"}]


def _by_id(body: dict[str, object]) -> dict[str, dict[str, object]]:
    return {m["id"]: m for m in body["data"]}  # type: ignore[index, attr-defined]


async def test_seeded_catalogue_in_models_and_pricing(catalogue_gateway: LiveGateway) -> None:
    gw = catalogue_gateway
    status, body = await call(gw, "GET", "/admin/catalogue")
    assert status == 200
    seeded = {e["model"]: e for e in body["data"]}
    assert seeded["gpt-4.1"]["vendor"] == "openai" and seeded["claude-sonnet-4-5"]["vendor"] == "anthropic"
    assert seeded["gemini-2.5-pro"]["vendor"] == "google"
    assert seeded["gpt-4.1"]["channels"] == ["cat-500", "cat-dead", "cat-live"]
    assert await CatalogueRepository(gw.state.engine).seed([]) == 0  # never seeds twice

    status, models = await call(gw, "GET", "/v1/models", key=ALL_KEY)
    assert status == 200 and models["object"] == "list"
    card = _by_id(models)["gpt-4.1"]
    assert card["object"] == "model" and card["owned_by"] == "openai" and card["name"] == "GPT-4.1"
    assert card["pricing"] == {
        "prompt": "0.000002",
        "completion": "0.000008",
        "input_cache_read": "0.0000005",
    }
    assert card["architecture"] == {
        "modality": "text+image->text", "input_modalities": ["text", "image"], "output_modalities": ["text"]
    }  # fmt: skip
    assert card["top_provider"]["max_completion_tokens"] == 32768
    assert "context_length" in card and isinstance(card["created"], int)
    # Not in the catalogue: listed with a guessed face; priced by the config file.
    house = _by_id(models)["house-model"]
    assert house["owned_by"] == "openai" and house["pricing"]["prompt"] == "0.000003"

    status, pricing = await call(gw, "GET", "/api/pricing", key=None)  # public
    assert status == 200 and pricing["success"] is True
    item = {m["model_name"]: m for m in pricing["data"]}["gpt-4.1"]
    assert item["vendor"] == "openai" and item["ids"] == ["gpt-4.1", "openai/gpt-4.1"]
    assert item["prices"] == {"input": "2", "output": "8", "cached_input": "0.5"} and item["quota_type"] == 0
    assert {"name": "openai", "models": 4} in pricing["vendors"]
    assert "claude-sonnet-4-5" not in {m["model_name"] for m in pricing["data"]}  # not served here


async def test_vendor_id_fails_over_and_bare_and_pinned_ids_still_work(
    catalogue_gateway: LiveGateway,
) -> None:
    gw = catalogue_gateway
    name, secret = await gw.new_key()
    client = gw.client(secret)
    # Dead upstream (connection refused), then HTTP 500, then the live channel.
    answer = await client.chat.completions.create(model="openai/gpt-4.1", messages=HELLO)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
    await client.chat.completions.create(model="gpt-4.1", messages=HELLO)  # type: ignore[arg-type]
    await client.chat.completions.create(model="cat-live/gpt-4.1", messages=HELLO)  # type: ignore[arg-type]
    # A channel named like the vendor pins the models it serves (echo answers).
    echoed = await client.chat.completions.create(model="openai/gpt-4o", messages=HELLO)  # type: ignore[arg-type]
    assert echoed.system_fingerprint == "fp_echo"
    rows = await gw.usage_rows(name)
    assert [(r["model"], r["channel"], r["status"]) for r in rows] == [
        ("openai/gpt-4.1", "cat-live", 200), ("gpt-4.1", "cat-live", 200),
        ("cat-live/gpt-4.1", "cat-live", 200), ("openai/gpt-4o", "openai", 200),
    ]  # fmt: skip
    assert rows[0]["attempts"] == 3
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="anthropic/gpt-4.1", messages=HELLO)  # type: ignore[arg-type]


async def test_key_allow_list(catalogue_gateway: LiveGateway) -> None:
    gw = catalogue_gateway
    status, models = await call(gw, "GET", "/v1/models", key=GPT41_ONLY_KEY)
    assert status == 200 and list(_by_id(models)) == ["gpt-4.1"]
    client = gw.client(GPT41_ONLY_KEY)
    await client.chat.completions.create(model="openai/gpt-4.1", messages=HELLO)  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError):
        await client.chat.completions.create(model="openai/gpt-4.1-nano", messages=HELLO)  # type: ignore[arg-type]
    # A key allowed `openai/gpt-4.1-nano` sees and calls the model under that name only.
    status, models = await call(gw, "GET", "/v1/models", key=VENDOR_ID_KEY)
    assert list(_by_id(models)) == ["openai/gpt-4.1-nano"]
    vendor_client = gw.client(VENDOR_ID_KEY)
    await vendor_client.chat.completions.create(model="openai/gpt-4.1-nano", messages=HELLO)  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError):
        await vendor_client.chat.completions.create(model="gpt-4.1-nano", messages=HELLO)  # type: ignore[arg-type]


async def test_admin_edits_show_without_restart(catalogue_gateway: LiveGateway) -> None:
    gw = catalogue_gateway
    patch = {"description": "Fast and small.", "context_length": 1047576, "tags": ["cheap"],
             "prices": {"input": "0.2", "output": "0.8"}}  # fmt: skip
    status, view = await call(gw, "PATCH", "/admin/catalogue/gpt-4.1-nano", json=patch)
    assert status == 200, view
    assert view["context_length"] == 1047576 and view["charged"] == {"input": "0.2", "output": "0.8"}
    card = _by_id((await call(gw, "GET", "/v1/models", key=ALL_KEY))[1])["gpt-4.1-nano"]
    assert card["description"] == "Fast and small." and card["context_length"] == 1047576
    assert card["pricing"] == {"prompt": "0.0000002", "completion": "0.0000008"}  # and charged so

    # Switched off: hidden, and its vendor id no longer resolves; the bare id is still served.
    status, _ = await call(gw, "PATCH", "/admin/catalogue/gpt-4.1-nano", json={"enabled": False})
    assert status == 200
    assert "gpt-4.1-nano" not in _by_id((await call(gw, "GET", "/v1/models", key=ALL_KEY))[1])
    client = gw.client(ALL_KEY)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="openai/gpt-4.1-nano", messages=HELLO)  # type: ignore[arg-type]
    await client.chat.completions.create(model="gpt-4.1-nano", messages=HELLO)  # type: ignore[arg-type]

    # Another replica's change (straight to the database) arrives through the revision watch.
    repo = CatalogueRepository(gw.state.engine)
    entry = await repo.get("gpt-4.1-nano")
    assert entry is not None
    await repo.replace(dataclasses.replace(entry, enabled=True, name="Nano (replica)"))
    for _ in range(40):
        card = _by_id((await call(gw, "GET", "/v1/models", key=ALL_KEY))[1]).get("gpt-4.1-nano")
        if card is not None:
            break
        await asyncio.sleep(0.1)
    assert card is not None and card["name"] == "Nano (replica)"


async def test_admin_crud_and_errors(catalogue_gateway: LiveGateway) -> None:
    gw = catalogue_gateway
    new = {"model": "house-model", "vendor": "acme", "tags": ["new"]}
    status, created = await call(gw, "POST", "/admin/catalogue", json=new)
    assert status == 201 and created["id"] == "acme/house-model" and created["channels"] == ["cat-live"]
    assert created["charged"] == {"input": "3", "output": "9"}  # the config file's price
    answer = await gw.client(ALL_KEY).chat.completions.create(model="acme/house-model", messages=HELLO)  # type: ignore[arg-type]
    assert answer.choices
    assert (await call(gw, "POST", "/admin/catalogue", json={"model": "house-model"}))[0] == 409
    status, err = await call(gw, "PATCH", "/admin/catalogue/house-model", json={"context_length": -1})
    assert status == 400 and err["error"]["param"] == "context_length"
    status, err = await call(gw, "PATCH", "/admin/catalogue/house-model", json={"prices": {"input": "x"}})
    assert status == 400 and "prices" in err["error"]["param"]
    status, err = await call(gw, "PATCH", "/admin/catalogue/house-model", json={"colour": "red"})
    assert status == 400 and "colour" in err["error"]["message"]
    assert (await call(gw, "PATCH", "/admin/catalogue/no-such-model", json={}))[0] == 404
    assert (await call(gw, "GET", "/admin/catalogue", key=ALL_KEY))[0] == 401
    assert (await call(gw, "DELETE", "/admin/catalogue/house-model"))[0] == 200
    assert (await call(gw, "GET", "/admin/catalogue/house-model"))[0] == 404
    status, spec = await call(gw, "GET", "/admin/openapi.json")
    assert status == 200 and "/admin/catalogue/{model}" in spec["paths"]


async def test_public_models_page(catalogue_gateway: LiveGateway) -> None:
    gw = catalogue_gateway
    status, page = await call(gw, "GET", "/ui/models", key=None)  # no sign-in
    page = html.unescape(page)
    assert status == 200 and 'data-vendor="openai"' in page
    assert f"curl {gw.url}/v1/chat/completions" in page
    assert (
        "openai/gpt-4.1" in page
        and "from openai import OpenAI" in page
        and 'import OpenAI from "openai"' in page
    )
    assert "client.embeddings.create" in page  # text-embedding-3-small gets an embedding sample
    status, page = await call(gw, "GET", "/ui/admin/catalogue", key=None)
    assert status == 200 and "Log in" in page  # admins only: signed out, the log-in page
