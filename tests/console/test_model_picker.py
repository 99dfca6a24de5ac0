"""The key form's model picker (issue 16): the catalogue's served models by vendor with their
public names and prices, checkboxes that work as a plain form, a filter with JavaScript;
models sent back are checked against the catalogue, the error on the models field in the
viewer's language; none checked means every model."""

from __future__ import annotations

import html
import re
from typing import Any

from hubgate.console import i18n
from hubgate.console.model_picker import OTHER, groups, offered_ids, price_text, refused
from tests.conftest import LiveGateway
from tests.console.browser import Pages, shot
from tests.console.conftest import Browser, new_email
from tests.console.test_browser_defects import sign_up

ITEMS = [
    {"model_name": "gpt-4o-mini", "vendor": "openai", "name": "GPT-4o Mini",
     "ids": ["gpt-4o-mini", "openai/gpt-4o-mini"], "prices": {"input": "0.15", "output": "0.6"}},
    {"model_name": "claude-sonnet-4-5", "vendor": "anthropic", "name": "Claude Sonnet 4.5",
     "ids": ["claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"], "prices": {"input": "3", "output": "15"}},
    {"model_name": "dall-e-3", "vendor": "openai", "name": "DALL-E 3", "ids": ["dall-e-3"],
     "prices": {"per_image": "0.04"}},
]  # fmt: skip


def test_models_are_grouped_by_vendor_with_names_and_prices() -> None:
    found = groups(ITEMS, ["gpt-4o-mini", "retired-model"])
    assert [g.vendor for g in found] == ["anthropic", "openai", OTHER]  # kept, no longer offered: last
    openai = found[1]
    assert [(c.model, c.name, c.checked) for c in openai.choices] == [
        ("dall-e-3", "DALL-E 3", False),
        ("gpt-4o-mini", "GPT-4o Mini", True),
    ]
    assert openai.choices[1].price == "$0.15 in · $0.6 out / 1M tokens"
    assert openai.choices[0].price == "$0.04 per image"
    assert [(c.model, c.checked) for c in found[2].choices] == [("retired-model", True)]
    assert groups(ITEMS, ["openai/gpt-4o-mini"])[1].choices[1].checked  # its vendor/model id too
    assert price_text({}) == ""


def test_only_offered_models_pass() -> None:
    allowed = offered_ids(ITEMS)
    assert "anthropic/claude-sonnet-4-5" in allowed and "dall-e-3" in allowed
    assert refused(["gpt-4o-mini", "nope", "openai/gpt-4o-mini"], allowed) == ["nope"]
    assert refused(None, allowed) == []


def test_prices_read_in_chinese() -> None:
    languages = i18n.load_languages()
    i18n.activate(languages["zh_CN"])
    try:
        assert price_text({"input": "2.5", "output": "10"}) == "输入 $2.5 · 输出 $10 / 每百万 Token"
    finally:
        i18n.activate(languages["en"])


async def test_a_key_gets_models_from_the_catalogue_only(
    browser: Browser, console_gateway: LiveGateway
) -> None:
    await browser.signup(new_email())
    status, page = await browser.get("/ui/keys")
    assert status == 200 and 'data-testid="model-picker"' in page
    assert 'name="models" value="gpt-4o-mini"' in page and 'data-vendor="openai"' in page
    assert "in · $" in html.unescape(page)  # prices beside the names
    # The translated placeholders are attributes, not text escaped into the markup.
    assert 'inputmode="numeric" placeholder="no limit"' in page and "&#34;" not in page
    status, page = await browser.post("/ui/keys", {"name": "two", "models": "gpt-4o-mini, echo-1"})
    assert status == 200 and 'data-testid="new-secret"' in page
    key = max(
        (k for k in await console_gateway.state.key_repo.all() if k.name.endswith("-two")), key=lambda k: k.id
    )
    assert key.models == frozenset({"gpt-4o-mini", "echo-1"})
    # Not in the catalogue: refused on the models field, in the viewer's language.
    await browser.get("/ui/keys?lang=zh-CN&keep=1")  # the switcher: saved for the next pages
    status, page = await browser.post("/ui/keys", {"name": "ghost", "models": "gpt-4o-mini, no-such-model"})
    assert status == 400 and 'id="f-models-error"' in page and "no-such-model" in page
    assert "不是可选的模型" in page and 'aria-describedby="f-models-hint f-models-error"' in page
    assert re.search(r'value="gpt-4o-mini" checked', page)  # what was checked stays checked
    await browser.get("/ui/keys?lang=en&keep=1")
    # A model the key already has (set by the API, say) is kept on edit, shown as not served.
    await console_gateway.state.key_repo.update_settings(key.name, models=["gpt-4o-mini", "gone-model"])
    status, page = await browser.get(f"/ui/keys/{key.id}/edit")
    assert status == 200 and "Not served now" in page and re.search(r'value="gone-model" checked', page)
    status, _ = await browser.post(
        f"/ui/keys/{key.id}/edit", {"name": "two", "models": "gpt-4o-mini, gone-model"}
    )
    assert status == 200
    status, _ = await browser.post(f"/ui/keys/{key.id}/edit", {"name": "two", "models": ""})
    after = await console_gateway.state.key_repo.by_id(key.id)
    assert status == 200 and after is not None and after.models is None  # none checked: every model


async def test_in_a_browser_models_are_filtered_and_checked_by_keyboard(
    chromium: Pages, console_gateway: LiveGateway
) -> None:
    base = console_gateway.url
    page: Any = await chromium.new_page()
    await sign_up(page, base, new_email())
    await page.goto(f"{base}/ui/keys")
    picker = page.locator("[data-testid=model-picker]")
    search = page.get_by_label("Filter by name or vendor")
    await search.wait_for()  # shown by console.js
    await search.fill("4o mini")
    assert await page.locator("[data-testid=model-gpt-4o-mini]").is_visible()
    assert not await page.locator("[data-testid=model-echo-1]").is_visible()
    assert await picker.locator("[data-vendor=other]").is_hidden()  # a vendor with no match is hidden
    await search.press("Enter")  # filters; does not send the form
    assert "/ui/keys" in page.url and not await page.locator("[data-testid=new-secret]").count()
    await page.locator("[data-testid=model-gpt-4o-mini]").focus()
    await page.keyboard.press("Space")
    assert await page.locator("[data-testid=model-gpt-4o-mini]").is_checked()
    await search.fill("")
    await page.get_by_role("checkbox", name=re.compile(r"echo-1")).check()
    await shot(page, "key-model-picker")
    await page.fill("input[name=name]", "picked")
    await page.click("text=Create key")
    await page.locator("[data-testid=new-secret]").wait_for()
    row = page.locator("[data-testid=keys-table] tr", has_text="picked")
    assert await row.locator("td").nth(2).inner_text() == "echo-1, gpt-4o-mini"
    await page.click("[data-testid=edit-key-picked]")
    assert await page.locator("[data-testid=model-gpt-4o-mini]").is_checked()
    await page.locator("[data-testid=model-gpt-4o-mini]").uncheck()
    await page.locator("[data-testid=model-echo-1]").uncheck()
    await page.click("[data-testid=key-edit-form] button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/keys$"))
    row = page.locator("[data-testid=keys-table] tr", has_text="picked")
    assert await row.locator("td").nth(2).inner_text() == "all"  # none checked: every model
    assert chromium.errors == []
