"""The console in English and Simplified Chinese: the language chosen by `?lang=`, its cookie and
Accept-Language; Chinese pages without English left in their text; the catalogue complete."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from hubgate.console import i18n
from tests.conftest import LiveGateway
from tests.console.browser import Pages, shot
from tests.console.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Browser, new_email

LOCALES = Path(i18n.__file__).parent / "locales"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
# Words that stay as they are in Chinese: names, formats, protocols, ids shown as data.
KEPT = re.compile(
    r"hubgate|OpenAI|JSON|CSV|USD|UTC|API|URL|ID|Token|TLS|JavaScript|Python|curl|Stripe|GitHub|"
    r"Ctrl|secret_key|[\w.+-]+@[\w.-]+|\becho\b|sk-\S*",
)


@pytest.fixture(autouse=True)
def _sqlite_only(request: pytest.FixtureRequest) -> None:
    """Languages touch no storage: one run (SQLite) is enough, keeping the suite short."""
    if "database_url" in request.fixturenames and request.getfixturevalue("database_url").startswith(
        "postgres"
    ):
        pytest.skip("language tests run on SQLite only")


class _Text(HTMLParser):
    """The words a reader sees: text and the attributes read aloud or shown, without code and
    data (elements marked translate="no": model names, a channel's model list)."""

    SKIP = {"code", "pre", "script", "style", "option", "datalist"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._stack: list[str] = []  # the skipped elements open now

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP or ("translate", "no") in attrs:
            self._skip += 1
            self._stack.append(tag)
        for name, value in attrs:
            if name in ("placeholder", "aria-label", "title", "data-confirm") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_left(page: str, data: tuple[str, ...] = ()) -> list[str]:
    """Runs of two or more English words in a page's visible text (names and data aside)."""
    reader = _Text()
    reader.feed(page)
    text = "\n".join(reader.parts)
    for value in data:
        text = text.replace(value, " ")
    runs, run = [], []
    for token in [*KEPT.sub(" ", text).split(), ""]:  # words of letters only (not ids like gpt-4o)
        if re.fullmatch(r"[(“]?[A-Za-z]+(?:'[a-z]+)?[.,:;?!)”]?", token):
            run.append(token)
            continue
        if len(run) >= 2:
            runs.append(" ".join(run))
        run = []
    return runs


async def test_chinese_pages_have_no_english_left(browser: Browser) -> None:
    email = new_email()
    await browser.get("/ui/signup", headers=ZH)
    assert browser.cookie(i18n.LANG_COOKIE) is None  # Accept-Language alone sets no cookie
    await browser.get("/ui/signup?lang=zh-CN")
    status, page = await browser.signup(email)
    assert status == 200, page
    assert '<html lang="zh-CN">' in page and "数据看板" in page
    assert "US$5.00" in page  # the new account's credit, in Chinese money format
    for path in ("/ui/dashboard", "/ui/keys", "/ui/usage", "/ui/settings", "/ui/tokens", "/ui/topup",
                 "/ui/redeem", "/ui/playground", "/ui/models"):  # fmt: skip
        status, page = await browser.get(path, headers=ZH)
        assert status == 200, (path, page[:300])
        assert english_left(page, (email,)) == [], path
    status, page = await browser.get("/ui/keys?lang=en")  # the check finds English where it is
    assert any("Create a key" in run for run in english_left(page, (email,)))


async def test_admin_pages_in_chinese(browser: Browser) -> None:
    await browser.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    for path in ("/ui/admin/channels", "/ui/admin/accounts", "/ui/admin/codes", "/ui/admin/groups"):
        status, page = await browser.get(path + "?lang=zh-CN")
        assert status == 200, (path, page[:300])
        assert "渠道" in page
        # admin pages show data (channel, model and account names); their labels must be Chinese
        names = tuple(re.findall(r'data-(?:channel|model|account|group|email)="([^"]+)"', page))
        assert english_left(page, (ADMIN_EMAIL, *names)) == [], (
            path,
            english_left(page, (ADMIN_EMAIL, *names)),
        )


async def test_lang_parameter_cookie_and_accept_language(browser: Browser) -> None:
    status, page = await browser.get("/ui/login", headers={"Accept-Language": "fr-FR, zh-TW;q=0.8, en;q=0.5"})
    assert status == 200 and '<html lang="zh-CN">' in page and "忘记密码" in page
    status, page = await browser.get("/ui/login", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.8"})
    assert '<html lang="en">' in page and "Forgot your password?" in page

    status, page = await browser.get("/ui/login?lang=zh-CN")  # sets the cookie: it wins from now on
    assert '<html lang="zh-CN">' in page and browser.cookie(i18n.LANG_COOKIE) == "zh_CN"
    status, page = await browser.get("/ui/signup", headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in page and "注册账户" in page
    # the switcher offers the other language on the same page
    assert 'href="/ui/signup?lang=en&amp;keep=1"' in page and ">English</a>" in page

    status, page = await browser.get("/ui/signup?lang=en")
    assert '<html lang="en">' in page and "Create an account" in page
    assert browser.cookie(i18n.LANG_COOKIE) == "en"
    status, page = await browser.get("/ui/login", headers=ZH)
    assert '<html lang="en">' in page  # the chosen language beats the browser's


async def test_form_errors_flash_and_script_strings_in_chinese(browser: Browser) -> None:
    await browser.get("/ui/signup?lang=zh-CN")
    status, page = await browser.post(
        "/ui/signup", {"email": new_email(), "password": "a-long-enough-pass-9", "confirm": "different-one-9"}
    )
    assert status == 400 and "两次输入的密码不一致。" in page and "请检查下方标出的字段。" in page
    await browser.signup(new_email())
    wrong = {"current": "wrong-password-0", "password": "x", "confirm": "x"}
    status, page = await browser.post("/ui/settings/password", wrong)
    assert "当前密码不正确。" in page
    # console.js's sentences come translated in a JSON block (not in English, which has them)
    block = re.search(r'<script type="application/json" id="hubgate-i18n">(.*?)</script>', page)
    assert block is not None and json.loads(block.group(1))["Copied"] == "已复制"
    status, page = await browser.get("/ui/settings?lang=en")
    assert 'id="hubgate-i18n"' not in page


async def test_unknown_page_in_chinese(browser: Browser) -> None:
    status, page = await browser.get("/ui/nowhere", headers=ZH)
    assert status == 404 and "页面不存在。" in page and "未找到" in page


def test_catalogue_is_complete_and_compiles() -> None:
    """Every string marked in the console is in messages.pot, and has a Chinese translation whose
    placeholders match; the .po compiles. A new `_()` without `make i18n-update` fails here."""
    method_map = [
        ("src/hubgate/console/**.py", "python"),
        ("src/hubgate/jobs/mail.py", "python"),
        ("src/hubgate/console/templates/**.html", "jinja2"),
    ]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None}
    root = Path(__file__).resolve().parents[2]
    marked = {
        (msg[4], msg[2] if isinstance(msg[2], str) else next(iter(msg[2])))
        for msg in extract_from_dir(str(root), method_map, keywords=keywords)
    }
    with (LOCALES / "messages.pot").open("rb") as fp:
        template = read_po(fp)
    listed = {_key(m) for m in template if m.id}
    assert marked - listed == set(), "strings marked but not extracted: run make i18n-update"

    with (LOCALES / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale="zh_CN")
    translated = {_key(m): m for m in catalog if m.id}
    missing = sorted(i for i in listed if i not in translated or not all(_strings(translated[i])))
    assert missing == [], f"untranslated in zh_CN: {missing[:10]}"
    fuzzy = sorted(m for m, entry in translated.items() if entry.fuzzy)
    assert fuzzy == [], f"fuzzy entries in zh_CN: {fuzzy[:10]}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert problems == [], problems  # python-format placeholders agree
    for (_context, msgid), entry in translated.items():
        wanted = set(re.findall(r"%\((\w+)\)", msgid))
        got = set(re.findall(r"%\((\w+)\)", _strings(entry)[0]))
        assert got == wanted, (msgid, entry.string)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    assert len(mo.getvalue()) > 1000


def _key(entry: Message) -> tuple[str | None, str]:
    """(context, msgid) of a catalogue entry (a plural's singular)."""
    return entry.context, entry.id if isinstance(entry.id, str) else entry.id[0]


def _strings(entry: object) -> tuple[str, ...]:
    string = entry.string  # type: ignore[attr-defined]
    return (string,) if isinstance(string, str) else tuple(string)


async def test_chromium_in_chinese_then_english(chromium: Pages, console_gateway: LiveGateway) -> None:
    """A browser set to Chinese gets Chinese pages, console.js speaks Chinese too, and the header's
    switcher brings English back; no page logs a console error (the JSON block passes the CSP)."""
    base = console_gateway.url
    browser: Any = chromium.browser
    context: Any = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page: Any = await context.new_page()
    page.on("console", lambda msg: chromium.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: chromium.errors.append(str(exc)))

    await page.goto(f"{base}/ui/signup")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    await page.fill("input[name=email]", new_email())
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=confirm]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))
    assert await page.text_content("[data-testid=balance]") == "US$5.00"
    await page.click("nav.nav >> text=API 令牌")
    await page.fill("input[name=name]", "zh-key")
    await page.click("form[action='/ui/keys'] button[type=submit]")
    await page.wait_for_selector("[data-testid=new-secret]")
    await page.click("button.copy")
    # console.js says it in Chinese: copied, or selected to copy
    await page.locator("button.copy", has_text=re.compile("^已")).wait_for()  # (no eval: the CSP forbids it)
    await shot(page, "i18n-zh-keys")

    await page.click("[data-testid=lang-en]")
    await page.wait_for_url(re.compile(r"/ui/keys\?lang=en&keep=1$"))
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.text_content("h1") == "API keys"
    await page.goto(f"{base}/ui/dashboard")  # the choice is kept
    assert await page.text_content("h1") == "Dashboard"
    await context.close()
    assert chromium.errors == []


def test_accept_language_weights_and_order_of_choice() -> None:
    assert i18n.from_accept_language("en;q=0.5, zh-CN;q=0.9") == "zh_CN"
    assert i18n.from_accept_language("zh;q=0, en") == "en"  # q=0: not acceptable
    assert i18n.from_accept_language("fr, de;q=x") is None and i18n.from_accept_language(None) is None
    assert i18n.choose({"lang": "xx"}, {i18n.LANG_COOKIE: "zh_CN"}, "en") == "zh_CN"  # unknown ?lang= ignored
    assert i18n.choose({"lang": "en"}, {i18n.LANG_COOKIE: "zh_CN"}, "zh") == "en"
    assert i18n.choose({}, {}, "de-DE") == "en"
