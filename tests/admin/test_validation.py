"""Bad input is a 400 whose message and `param` name the field (SPEC §5); conflicts are
409 and unknown names 404, all in OpenAI's error shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin.helpers import Admin, unique

CASES: list[tuple[str, str, Any, str]] = [
    ("POST", "/admin/accounts", {}, "name"),
    ("POST", "/admin/accounts", {"name": "has space"}, "name"),
    ("POST", "/admin/accounts", {"name": "ok-name", "credit_usd": "-1"}, "credit_usd"),
    ("POST", "/admin/accounts", {"name": "ok-name", "credit_usd": "0.0000001"}, "credit_usd"),
    ("POST", "/admin/accounts", {"name": "ok-name", "credit_usd": "NaN"}, "credit_usd"),
    ("POST", "/admin/accounts", {"name": "ok-name", "group": "no-such-group"}, "group"),
    ("POST", "/admin/accounts", {"name": "ok-name", "colour": "red"}, "colour"),
    ("POST", "/admin/accounts/default/adjust", {"amount_usd": "abc"}, "amount_usd"),
    ("POST", "/admin/accounts/default/adjust", {"amount_usd": 0}, "amount_usd"),
    ("POST", "/admin/accounts/default/adjust", {"amount_usd": 1, "reference": "x" * 129}, "reference"),
    ("PATCH", "/admin/accounts/default", {"disabled": "perhaps"}, "disabled"),
    ("POST", "/admin/redemption-codes", {"batch": "b", "count": 0, "amount_usd": 1}, "count"),
    ("POST", "/admin/redemption-codes", {"batch": "b", "count": 1001, "amount_usd": 1}, "count"),
    ("POST", "/admin/redemption-codes", {"batch": "b", "count": 1, "amount_usd": 0}, "amount_usd"),
    ("POST", "/admin/redemption-codes", {"batch": "b", "count": 1, "amount_usd": 1, "expires_at": "soon"},
     "expires_at"),
    ("POST", "/admin/keys", {"name": "k", "allowed_ips": ["10.0.0.0/8", "not-an-ip"]}, "allowed_ips[1]"),
    ("POST", "/admin/keys", {"name": "k", "budget_period": "yearly"}, "budget_period"),
    ("POST", "/admin/keys", {"name": "k", "rpm": 0}, "rpm"),
    ("POST", "/admin/keys", {"name": "k", "models": ["a", ""]}, "models[1]"),
    ("POST", "/admin/keys", {"name": "k", "account": "no-such-account-here"}, "account"),
    ("POST", "/admin/keys", {"name": "k", "price_multiplier": -2}, "price_multiplier"),
    ("PATCH", "/admin/keys/nobody-at-all", {"tpm": "many"}, "tpm"),
    ("PUT", "/admin/groups/bad%20name", {"multiplier": 1}, "name"),
    ("PUT", "/admin/groups/fine", {"multiplier": -1}, "multiplier"),
    ("PUT", "/admin/groups/fine", {}, "multiplier"),
    ("PUT", "/admin/pricing/some-model", {"output": 1}, "input"),
    ("PUT", "/admin/pricing/some-model", {"input": 1, "cached_input": "free"}, "cached_input"),
    ("GET", "/admin/keys?limit=0", None, "limit"),
    ("GET", "/admin/keys?cursor=abc", None, "cursor"),
    ("GET", "/admin/keys?colour=red", None, "colour"),
    ("GET", "/admin/usage?group_by=key,week", None, "group_by"),
    ("GET", "/admin/usage?since=yesterday", None, "since"),
    ("GET", "/admin/usage/logs?status=42", None, "status"),
    ("GET", "/admin/audit?limit=5000", None, "limit"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES)
async def test_bad_input_is_400_naming_the_field(
    admin_gateway: Admin, method: str, path: str, body: Any, field: str
) -> None:
    status, answer = await admin_gateway.call(method, path, json=body)
    assert status == 400, answer
    error = answer["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == field
    assert f"'{field}'" in error["message"] or f"'{field.split('[')[0]}'" in error["message"]


async def test_malformed_json_is_400(admin_gateway: Admin) -> None:
    status, answer = await admin_gateway.call(
        "POST",
        "/admin/accounts",
        data=b"{not json",
        headers={"x-admin-key": admin_gateway.key, "content-type": "application/json"},
    )
    assert status == 400 and "JSON" in answer["error"]["message"]
    status, answer = await admin_gateway.call("POST", "/admin/accounts", json=["a", "list"])
    assert status == 400 and "object" in answer["error"]["message"]


async def test_every_problem_is_reported_at_once(admin_gateway: Admin) -> None:
    status, answer = await admin_gateway.call("POST", "/admin/keys", json={"name": "k", "rpm": 0, "tpm": -1})
    assert status == 400
    assert "'rpm'" in answer["error"]["message"] and "'tpm'" in answer["error"]["message"]


async def test_duplicates_are_409_and_unknown_names_404(admin_gateway: Admin) -> None:
    name = await admin_gateway.account()
    status, answer = await admin_gateway.call("POST", "/admin/accounts", json={"name": name})
    assert (
        status == 409 and answer["error"]["param"] == "name" and answer["error"]["code"] == "already_exists"
    )
    key_name, _ = await admin_gateway.new_key()
    status, answer = await admin_gateway.call("POST", "/admin/keys", json={"name": key_name})
    assert status == 409 and answer["error"]["param"] == "name"
    for method, path, body in [
        ("GET", f"/admin/accounts/{unique('none')}", None),
        ("PATCH", f"/admin/accounts/{unique('none')}", {"disabled": True}),
        ("POST", f"/admin/accounts/{unique('none')}/adjust", {"amount_usd": 1}),
        ("GET", f"/admin/accounts/{unique('none')}/ledger", None),
        ("GET", f"/admin/keys/{unique('none')}", None),
        ("PATCH", f"/admin/keys/{unique('none')}", {"rpm": 5}),
        ("DELETE", f"/admin/keys/{unique('none')}", None),
        ("GET", f"/admin/keys?account={unique('none')}", None),
    ]:
        status, answer = await admin_gateway.call(method, path, json=body)
        assert status == 404, (method, path, answer)
        assert answer["error"]["param"] in ("name", "account")
