"""The OpenAPI document lists every admin route the server answers, and nothing else;
/admin/docs renders it as one self-contained page."""

from __future__ import annotations

import re

import aiohttp

from tests.admin.helpers import Admin


def _served(admin: Admin) -> set[tuple[str, str]]:
    served = set()
    for route in admin.live.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/admin") and route.method != "HEAD":
            served.add((route.method.lower(), re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)))
    return served


async def test_openapi_lists_every_admin_route(admin_gateway: Admin) -> None:
    spec = await admin_gateway.ok("GET", "/admin/openapi.json")
    assert spec["openapi"].startswith("3.")
    documented = {
        (method, path) for path, ops in spec["paths"].items() for method in ops if path.startswith("/admin")
    }
    assert documented == _served(admin_gateway)
    assert {
        "/v1/dashboard/billing/subscription",
        "/v1/dashboard/billing/usage",
        "/v1/dashboard/redeem",
    } <= set(spec["paths"])
    ops = [op for ops in spec["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in ops]
    assert len(ids) == len(set(ids))
    schemas = spec["components"]["schemas"]
    for op in ops:
        if "requestBody" in op:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[-1] in schemas
    keys_post = spec["paths"]["/admin/keys"]["post"]
    body = schemas[
        keys_post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    ]
    assert {"name", "models", "budget_usd", "allowed_ips", "expires_at"} <= set(body["properties"])
    assert body["required"] == ["name"]
    params = {p["name"] for p in spec["paths"]["/admin/usage"]["get"]["parameters"]}
    assert params == {"key", "model", "channel", "since", "until", "group_by", "limit"}
    assert keys_post["security"] and spec["paths"]["/admin/docs"]["get"]["security"] == []


async def test_docs_page_is_self_contained_html(admin_gateway: Admin) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{admin_gateway.url}/admin/docs") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
    spec = await admin_gateway.ok("GET", "/admin/openapi.json")
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "allowed_ips" in page and "group_by" in page
