"""Console users through the admin API: list, change role, switch off (ending sessions),
one-time reset links and sign-up invites; nothing secret in answers or the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from hubgate.gateway import GATEWAY
from hubgate.storage.users import User, UserRepository
from tests.admin.helpers import Admin, unique


async def _user(admin: Admin) -> tuple[User, UserRepository]:
    """A console user of a fresh account, made straight in the database."""
    gw = admin.live.app[GATEWAY]
    account = await admin.account("1")
    record = await gw.accounts.by_name(account)
    assert record is not None
    users = UserRepository(gw.engine)
    user = await users.create(f"{unique('u')}@example.test", "not-a-real-hash", role="user",
                              account_id=record.id)  # fmt: skip
    return user, users


async def test_list_and_read_users_without_secrets(admin_gateway: Admin) -> None:
    user, _ = await _user(admin_gateway)
    found = await admin_gateway.ok("GET", f"/admin/users?email={user.email.upper()}")
    assert [u["id"] for u in found["data"]] == [user.id]
    view = found["data"][0]
    assert view["email"] == user.email and view["role"] == "user" and view["disabled"] is False
    assert view["account"] and view["account_id"] == user.account_id and view["has_password"] is True
    assert "password_hash" not in view and "totp_secret_enc" not in view
    assert "not-a-real-hash" not in str(found)
    assert await admin_gateway.ok("GET", f"/admin/users/{user.id}") == view
    by_account = await admin_gateway.ok("GET", f"/admin/users?account={view['account']}")
    assert [u["id"] for u in by_account["data"]] == [user.id]
    nobody = await admin_gateway.ok("GET", "/admin/users?account=no-such-account-x")
    assert nobody["data"] == [] and nobody["has_more"] is False

    page = await admin_gateway.ok("GET", "/admin/users?limit=1")
    assert len(page["data"]) == 1
    if page["has_more"]:
        after = await admin_gateway.ok("GET", f"/admin/users?limit=1&cursor={page['next_cursor']}")
        assert after["data"][0]["id"] > page["data"][0]["id"]

    status, body = await admin_gateway.call("GET", "/admin/users/999999999")
    assert status == 404 and body["error"]["code"] == "user_not_found"
    status, body = await admin_gateway.call("GET", "/admin/users/abc")
    assert status == 400 and body["error"]["param"] == "id"
    status, _ = await admin_gateway.call("GET", "/admin/users", headers={})
    assert status == 401


async def test_patch_role_and_disable_ends_sessions(admin_gateway: Admin) -> None:
    user, users = await _user(admin_gateway)
    token, _ = await users.start_session(user.id, ttl=timedelta(hours=1), ip=None, user_agent=None,
                                         mfa_pending=False)  # fmt: skip
    assert await users.session(token) is not None

    view = await admin_gateway.ok("PATCH", f"/admin/users/{user.id}", {"role": "admin"})
    assert view["role"] == "admin"
    assert await users.session(token) is not None  # a role change keeps the session

    view = await admin_gateway.ok("PATCH", f"/admin/users/{user.id}", {"disabled": True, "role": "user"})
    assert view["disabled"] is True and view["role"] == "user"
    assert await users.session(token) is None
    await users.update(user.id, disabled=False)
    assert await users.session(token) is None  # ended, not just hidden while disabled

    status, body = await admin_gateway.call("PATCH", f"/admin/users/{user.id}", json={"role": "root"})
    assert status == 400 and body["error"]["param"] == "role"
    status, body = await admin_gateway.call("PATCH", f"/admin/users/{user.id}", json={"email": "x@y.z"})
    assert status == 400 and body["error"]["param"] == "email"

    entries = await admin_gateway.ok("GET", f"/admin/audit?action=users.update&target={user.email}")
    latest = entries["data"][0]
    assert latest["actor"] == "admin"
    assert latest["before"]["disabled"] is False and latest["after"]["disabled"] is True


async def test_reset_link_is_one_time_and_expires_in_an_hour(admin_gateway: Admin) -> None:
    user, users = await _user(admin_gateway)
    body = await admin_gateway.ok("POST", f"/admin/users/{user.id}/reset-link", status=201)
    url = urlsplit(body["reset_url"])
    assert url.scheme == "http" and url.netloc == urlsplit(admin_gateway.url).netloc
    assert url.path.startswith("/ui/reset/")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    token = url.path.removeprefix("/ui/reset/")
    assert await users.use_reset(token) == user.id
    assert await users.use_reset(token) is None

    entries = await admin_gateway.ok("GET", f"/admin/audit?action=users.reset_link&target={user.email}")
    assert entries["data"] and token not in str(entries)

    await users.update(user.id, disabled=True)
    status, err = await admin_gateway.call("POST", f"/admin/users/{user.id}/reset-link")
    assert status == 400, err
    status, _ = await admin_gateway.call("POST", "/admin/users/999999999/reset-link")
    assert status == 404


async def test_invites_are_one_time_codes(admin_gateway: Admin) -> None:
    users = UserRepository(admin_gateway.live.app[GATEWAY].engine)
    body = await admin_gateway.ok("POST", "/admin/invites", {}, status=201)
    code = body["invite"]
    assert code.startswith("inv-")
    assert body["signup_url"] == f"{admin_gateway.url}/ui/signup?invite={code}"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert await users.invite_usable(code)
    assert await users.use_invite(code, None)
    assert not await users.use_invite(code, None)

    forever = await admin_gateway.ok("POST", "/admin/invites", {"expires_in_hours": None}, status=201)
    assert forever["expires_at"] is None and await users.invite_usable(forever["invite"])

    status, err = await admin_gateway.call("POST", "/admin/invites", json={"expires_in_hours": 0})
    assert status == 400 and err["error"]["param"] == "expires_in_hours"

    entries = await admin_gateway.ok("GET", "/admin/audit?action=invites.create")
    assert entries["data"] and code not in str(entries) and forever["invite"] not in str(entries)
