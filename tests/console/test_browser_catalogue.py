"""The catalogue pages in a real headless Chromium: anyone reads /ui/models and copies a
sample; an admin edits an entry and switches one off and on at /ui/admin/catalogue."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import LiveGateway
from tests.console.browser import Pages, shot
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.console.test_browser import log_in


async def test_models_page_and_catalogue_editor(chromium: Pages, console_gateway: LiveGateway) -> None:
    base = console_gateway.url
    page: Any = await chromium.new_page()
    await page.goto(base + "/ui/models")  # signed out
    row = page.locator("[data-testid=model][data-model=gpt-4o-mini]")
    assert "GPT-4o Mini" in await row.text_content()
    samples = page.locator("[data-testid=samples]").filter(has_text="openai/gpt-4o-mini").first
    await samples.locator("summary").click()
    python = samples.locator("[data-testid=sample-python]")
    await python.wait_for(state="visible")
    assert f'base_url="{base}/v1"' in await python.text_content()
    await samples.locator("button.copy").nth(1).click()
    await samples.locator("button.copy", has_text=re.compile("Copied|Selected")).first.wait_for()
    await shot(page, "30-models")

    await log_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    await page.goto(base + "/ui/admin/catalogue")
    entry = page.locator("[data-testid=catalogue-row][data-model=text-embedding-3-small]")
    await entry.locator("details.edit summary").click()
    form = entry.locator("form[data-testid=catalogue-form]")
    await form.locator("input[name=context_length]").fill("8191")
    await form.locator("textarea[name=description]").fill("Small embeddings, edited in the browser.")
    await form.locator("button[type=submit]").click()
    await page.wait_for_load_state("load")
    entry = page.locator("[data-testid=catalogue-row][data-model=text-embedding-3-small]")
    await entry.locator("td.num", has_text="8191").wait_for()
    await shot(page, "31-admin-catalogue")
    await entry.locator("button[data-testid=catalogue-toggle]").click()  # off
    await entry.locator(".badge.off").wait_for()
    await page.goto(base + "/ui/models")
    assert await page.locator("[data-testid=model][data-model=text-embedding-3-small]").count() == 0
    await page.goto(base + "/ui/admin/catalogue")
    await entry.locator("button[data-testid=catalogue-toggle]").click()  # on again
    await entry.locator(".badge.on").wait_for()
    await page.goto(base + "/ui/models")
    described = page.locator("[data-testid=model][data-model=text-embedding-3-small]")
    assert "edited in the browser" in await described.text_content()
    assert chromium.errors == []
