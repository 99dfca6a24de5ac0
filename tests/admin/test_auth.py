"""The admin guard: the admin key as a bearer token or x-admin-key, 401 without it,
403 when no admin_key is configured; the documentation is public."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.admin.helpers import ADMIN_KEY, Admin
from tests.conftest import ALICE_KEY, LiveGateway


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {ADMIN_KEY}"},
        {"x-admin-key": ADMIN_KEY},
        {"Authorization": f"bearer {ADMIN_KEY}"},
    ],
)
async def test_the_admin_key_is_accepted_as_bearer_or_header(
    admin_gateway: Admin, headers: dict[str, str]
) -> None:
    status, body = await admin_gateway.call("GET", "/admin/health", headers=headers)
    assert status == 200 and body["status"] == "ok" and body["database"] == "ok"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_admin_key"),
        ({"authorization": "Bearer wrong-admin-key-0123456789"}, "invalid_admin_key"),
        ({"x-admin-key": ADMIN_KEY[:-1]}, "invalid_admin_key"),
        ({"authorization": f"Basic {ADMIN_KEY}"}, "missing_admin_key"),
        ({"authorization": f"Bearer {ALICE_KEY}"}, "invalid_admin_key"),  # a caller key is not an admin key
    ],
)
async def test_missing_or_wrong_admin_key_is_401_in_openai_shape(
    admin_gateway: Admin, headers: dict[str, str], code: str
) -> None:
    for method, path in [("GET", "/admin/keys"), ("POST", "/admin/keys"), ("DELETE", "/admin/keys/x")]:
        status, body = await admin_gateway.call(method, path, headers=headers, json={"name": 1})
        assert status == 401, (method, path, body)  # refused before the body is even looked at
        assert body["error"]["type"] == "authentication_error" and body["error"]["code"] == code


async def test_no_admin_key_configured_disables_the_admin_api(gateway: LiveGateway) -> None:
    assert gateway.settings.admin_key is None
    admin = Admin(gateway)
    for headers in ({}, {"authorization": f"Bearer {ADMIN_KEY}"}, {"x-admin-key": "anything"}):
        status, body = await admin.call("GET", "/admin/accounts", headers=headers)
        assert status == 403
        assert body["error"]["code"] == "admin_api_disabled" and "disabled" in body["error"]["message"]


async def test_errors_carry_a_request_id_and_keep_openai_shape_for_odd_paths(admin_gateway: Admin) -> None:
    url = f"{admin_gateway.url}/admin/pricing/some-model:free"
    async with (
        aiohttp.ClientSession() as http,
        http.put(url, json={"input": -1}, headers={"x-admin-key": ADMIN_KEY}) as resp,
    ):
        assert resp.status == 400 and resp.headers["x-request-id"]
        body = await resp.json()
    assert body["error"]["param"] == "input"  # OpenAI's shape, not Gemini's, despite the ':'


async def test_docs_are_public_and_every_other_route_is_guarded(admin_gateway: Admin) -> None:
    status, _ = await admin_gateway.call("GET", "/admin/openapi.json", headers={})
    assert status == 200
    status, spec = await admin_gateway.call("GET", "/admin/openapi.json")
    for path, ops in spec["paths"].items():
        if not path.startswith("/admin/") or path in ("/admin/openapi.json", "/admin/docs"):
            continue
        for method in ops:
            concrete = re.sub(r"\{[^}]+\}", "nothing", path)  # any path parameter
            got, body = await admin_gateway.call(method.upper(), concrete, headers={}, json={})
            assert got == 401, (method, path, body)
