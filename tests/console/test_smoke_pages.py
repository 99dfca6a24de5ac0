from __future__ import annotations

from tests.console.conftest import Browser, new_email


async def test_signup_then_pages_render(browser: Browser) -> None:
    status, text = await browser.signup(new_email())
    assert status == 200, text
    assert "Dashboard" in text
    for path in ("/ui/keys", "/ui/usage", "/ui/redeem", "/ui/playground", "/ui/settings", "/ui/tokens"):
        status, text = await browser.get(path)
        assert status == 200, (path, text[:500])
