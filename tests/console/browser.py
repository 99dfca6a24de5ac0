"""Headless Chromium for the console's browser tests: Debian's /usr/bin/chromium driven by
Playwright (nothing is downloaded). Missing Chromium skips the tests locally and fails
them under CI=true. Every page's console errors are collected, and screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("HUBGATE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("HUBGATE_TEST_ARTIFACTS", "test-artifacts")) / "screenshots"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"Chromium is required under CI=true (looked for {CHROMIUM}); `make test` installs it"
            )
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


@dataclass
class Pages:
    """A browser whose pages report console errors into one list."""

    browser: object
    errors: list[str] = field(default_factory=list)

    async def new_page(self, *, width: int = 1280, height: int = 900) -> object:
        context = await self.browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
        page = await context.new_page()
        page.on(
            "console",
            lambda msg: self.errors.append(f"{msg.type}: {msg.text}") if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        return page


async def shot(page: object, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
    return path


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Pages]:
    executable = require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        try:
            yield Pages(browser)
        finally:
            await browser.close()
