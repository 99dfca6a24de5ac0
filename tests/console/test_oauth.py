"""Console sign-in through GitHub OAuth and OpenID Connect, against a fake provider that
checks the client secret, the redirect URI, the one-time code and PKCE."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import LiveGateway, live_gateway
from tests.console.conftest import Browser, console_config, new_email
from tests.fakes.oauth_provider import CLIENT_ID, CLIENT_SECRET, FakeOAuth, Person
from tests.fakes.openai_upstream import FakeOpenAI


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[FakeOAuth]:
    async with FakeOAuth() as fake:
        yield fake


@pytest.fixture(scope="module")
async def oauth_gateway(
    database_url: str, fake_openai: FakeOpenAI, provider: FakeOAuth
) -> AsyncIterator[LiveGateway]:
    root = provider.root_url
    common = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    config = console_config(fake_openai, database_url, oauth=[
        {"name": "github", "kind": "github", "label": "Continue with GitHub", **common,
         "authorize_url": f"{root}/authorize", "token_url": f"{root}/token", "userinfo_url": f"{root}/user"},
        {"name": "sso", "kind": "oidc", "issuer": root, **common},
    ])  # fmt: skip
    async with live_gateway(config, fake_openai) as gw:
        yield gw


@pytest.fixture
async def visitor(oauth_gateway: LiveGateway) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(oauth_gateway.url, http)


async def test_the_log_in_page_offers_each_provider(visitor: Browser) -> None:
    _, text = await visitor.get("/ui/login")
    assert 'href="/ui/oauth/github/start"' in text and "Continue with GitHub" in text
    assert 'href="/ui/oauth/sso/start"' in text and "Continue with sso" in text


async def test_a_first_oidc_sign_in_makes_an_account_and_the_next_finds_it(
    visitor: Browser, provider: FakeOAuth, oauth_gateway: LiveGateway
) -> None:
    email = new_email()
    provider.person = Person(subject=f"sub-{email}", email=email)
    status, text = await visitor.get("/ui/oauth/sso/start")
    assert status == 200 and "Dashboard" in text and email in text
    from hubgate.storage.users import UserRepository

    users = UserRepository(oauth_gateway.state.engine)
    user = await users.by_email(email)
    assert user is not None and user.password_hash is None  # signs in through the provider only
    await visitor.post("/ui/logout", {})
    status, text = await visitor.get("/ui/oauth/sso/start")
    assert status == 200 and "Dashboard" in text
    assert await users.by_identity("sso", f"sub-{email}") == await users.by_email(email)
    # Such a person may add a password (there is no current one to ask for), then log in with it.
    await visitor.get("/ui/settings")
    new = "added-password-123"
    status, text = await visitor.post("/ui/settings/password", {"password": new, "confirm": new})
    assert status == 200 and "Password changed" in text
    await visitor.post("/ui/logout", {})
    status, text = await visitor.login(email, new)
    assert status == 200 and "Dashboard" in text


async def test_github_links_a_verified_email_to_the_existing_user(
    visitor: Browser, other_browser: Browser, provider: FakeOAuth, oauth_gateway: LiveGateway
) -> None:
    email = new_email()
    other = Browser(oauth_gateway.url, other_browser.http)
    await other.signup(email)  # made with a password first
    provider.person = Person(subject="4242", email=email, login="octocat")
    status, text = await visitor.get("/ui/oauth/github/start")
    assert status == 200 and "Dashboard" in text and email in text
    from hubgate.storage.users import UserRepository

    users = UserRepository(oauth_gateway.state.engine)
    linked = await users.by_identity("github", "4242")
    assert linked is not None and linked.email == email and linked.password_hash is not None


async def test_an_unverified_email_is_not_trusted(visitor: Browser, provider: FakeOAuth) -> None:
    provider.person = Person(subject="sub-unverified", email=new_email(), verified=False)
    status, text = await visitor.get("/ui/oauth/sso/start")
    assert status == 400 and "no verified email" in text


async def test_a_callback_that_did_not_start_here_is_refused(visitor: Browser, provider: FakeOAuth) -> None:
    status, text = await visitor.get("/ui/oauth/sso/callback?code=stolen&state=guessed")
    assert status == 400 and "did not start here" in text
    # A started sign-in whose state is swapped on the way back is refused too.
    async with visitor.http.get(visitor.base + "/ui/oauth/sso/start", allow_redirects=False) as resp:
        assert resp.status == 303
    status, text = await visitor.get("/ui/oauth/sso/callback?code=x&state=other")
    assert status == 400 and "did not start here" in text


async def test_a_provider_error_is_shown(visitor: Browser) -> None:
    async with visitor.http.get(visitor.base + "/ui/oauth/sso/start", allow_redirects=False) as resp:
        location = resp.headers["location"]
    state = location.split("state=")[1].split("&")[0]
    status, text = await visitor.get(f"/ui/oauth/sso/callback?error=access_denied&state={state}")
    assert status == 400 and "access_denied" in text


async def test_an_unknown_provider_is_404(visitor: Browser) -> None:
    status, _ = await visitor.get("/ui/oauth/nope/start")
    assert status == 404
