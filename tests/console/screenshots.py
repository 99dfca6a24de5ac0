"""The console's screenshots in docs/screenshots (`make screenshots`): the quickstart gateway with
demo data, its main pages in English and Chinese at desktop (1280 px) and phone (390 px) width.

    python -m tests.console.screenshots [--out DIR] [--pages dashboard,keys]

It serves examples/quickstart.yaml (on a fresh SQLite file and a free port, with EPay top-up
switched on) as `hubgate serve`, fills it like a first afternoon of use — a customer with two
keys, a few dozen calls, a redeemed code and a paid top-up; a second channel tested fine and a
dead one tested and failed — then saves docs/screenshots/<en|zh-CN>/<desktop|phone>/<page>.png,
one screen high (the top of the page; `--full` for whole pages). Chinese needs a CJK font
(Debian: fonts-noto-cjk). Chromium as in the browser tests (/usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import yaml

from hubgate.payments import epay
from tests.console.browser import CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
ADMIN_KEY = "sk-admin-screenshots-0123456789"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-quickstart-change-me"
EMAIL = "ada@example.com"
PASSWORD = "copper-kettle-lantern-42"
EPAY_PID, EPAY_KEY = "1001", "screenshots-epay-merchant-key"
LANGUAGES = {"en": "en", "zh-CN": "zh_CN"}  # folder -> the console's ?lang=
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
# page -> (who, path); {key_id} is the customer's first key.
PAGES = {
    "sign-in": ("visitor", "/ui/login"),
    "dashboard": ("customer", "/ui/dashboard"),
    "keys": ("customer", "/ui/keys"),
    "key-edit": ("customer", "/ui/keys/{key_id}/edit"),
    "usage": ("customer", "/ui/usage"),
    "balance": ("customer", "/ui/billing"),
    "top-up": ("customer", "/ui/topup"),
    "models": ("customer", "/ui/models"),
    "playground": ("customer", "/ui/playground"),
    "settings": ("customer", "/ui/settings"),
    "admin-channels": ("admin", "/ui/admin/channels"),
    "admin-accounts": ("admin", "/ui/admin/accounts"),
    "admin-usage": ("admin", "/ui/admin/usage"),
    "admin-settings": ("admin", "/ui/admin/settings"),
    "admin-catalogue": ("admin", "/ui/admin/catalogue"),
}
PROMPTS = [
    "Summarise our release notes",
    "Translate 'good morning' into French",
    "Write a haiku about rain",
    "What is a token bucket?",
    "List three sorting algorithms",
    "Explain HTTP caching briefly",
]

CONTEXT = (
    "Context: the team ships a small web service every week; each release has notes, a changelog, "
    "migration steps and a list of known issues. Keep the answer short, plain and friendly. "
) * 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, port: int) -> Path:
    config = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    config["database_url"] = f"sqlite+aiosqlite:///{folder / 'hubgate.db'}"
    config["port"] = port
    config["payments"] = {"epay": {"url": "https://pay.example.com", "pid": EPAY_PID, "key": EPAY_KEY},
                          "bonus_tiers": [{"from_usd": 50, "percent": 10}]}  # fmt: skip
    # Prices of a mid-sized model, so the demo's spend shows in cents rather than as $0.00.
    config["pricing"]["echo-1"] = {"input": 2.5, "output": 10}
    config["pricing"]["echo-embed"] = {"input": 0.02}
    config["rate_limits"] = {}  # the demo calls come faster than a visitor's
    path = folder / "hubgate.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Gateway:
    """`hubgate serve` on the demo config, and calls to its admin and model APIs."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = write_config(folder, self.port)
        env = {**os.environ, "HUBGATE_ADMIN_KEY": ADMIN_KEY, "HUBGATE_CONSOLE_ADMIN_PASSWORD": ADMIN_PASSWORD}
        cmd = [sys.executable, "-m", "hubgate", "serve", "--config", str(config), "--port", str(self.port)]
        self.log = (folder / "gateway.log").open("w")
        self.proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"hubgate serve exited ({self.proc.returncode}); see {self.log.name}")
            try:
                async with self.http.get(self.base + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
        raise SystemExit("hubgate serve did not become ready in 60 s")

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()

    async def call(self, method: str, path: str, body: Any = None, *, key: str = ADMIN_KEY) -> Any:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {key}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as resp:
            answer = await resp.json(content_type=None)
            if resp.status >= 400 and not path.endswith("/test"):
                raise SystemExit(f"{method} {path}: {resp.status} {answer}")
            return answer


async def seed_admin(gw: Gateway) -> None:
    """A second echo channel tested fine, and a dead OpenAI one tested and failed."""
    await gw.call("POST", "/admin/channels", {"name": "echo-backup", "type": "echo", "models": ["echo-1"]})
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    await gw.call(
        "POST",
        "/admin/channels",
        {
            "name": "openai-main",
            "type": "openai",
            "base_url": dead,
            "api_key": "sk-not-a-real-key",
            "models": ["gpt-4o-mini"],
        },
    )
    await gw.call("PUT", "/admin/pricing/gpt-4o-mini", {"input": 0.15, "output": 0.6})
    for name in ("echo-backup", "openai-main"):
        await gw.call("POST", f"/admin/channels/{name}/test")


async def use_keys(gw: Gateway, keys: list[str]) -> None:
    """Chat and embedding calls with the customer's keys and the quickstart's demo key."""
    calls = 0
    for round_ in range(4):
        for key in [*keys, "sk-hubgate-demo-0123456789"]:
            prompt = PROMPTS[(round_ + calls) % len(PROMPTS)]
            content = f"{prompt}. {CONTEXT * (2 + calls % 5)}"  # echo answers with as many tokens
            body = {"model": "echo-1", "messages": [{"role": "user", "content": content}]}
            await gw.call("POST", "/v1/chat/completions", body, key=key)
            calls += 1
        await gw.call("POST", "/v1/embeddings", key=keys[0], body={"model": "echo-embed", "input": "hello"})
    await asyncio.sleep(2.5)  # the usage writer flushes every second


async def top_up(page: Any, gw: Gateway) -> None:
    """A $20 top-up through EPay, paid: the order from the console's top-up API, then EPay's
    signed notify as the payment site would send it."""
    csrf = await page.get_attribute("main", "data-csrf")
    resp = await page.request.post(gw.base + "/api/user/topup/pay", data={"amount": "20", "method": "alipay"},
                                   headers={"x-csrf-token": csrf})  # fmt: skip
    order = (await resp.json())["data"]
    sent = dict(parse_qsl(urlsplit(order["url"]).query))
    notify = {"pid": EPAY_PID, "trade_no": "2026120200001", "out_trade_no": sent["out_trade_no"],
              "type": sent["type"], "name": sent["name"], "money": sent["money"],
              "trade_status": epay.PAID}  # fmt: skip
    notify |= {"sign": epay.sign(notify, EPAY_KEY), "sign_type": "MD5"}
    assert gw.http is not None
    async with gw.http.get(gw.base + "/api/payments/epay/notify", params=notify) as answer:
        if (await answer.text()).strip() != "success":
            raise SystemExit(f"the EPay notify was refused: {answer.status}")


async def seed_customer(page: Any, gw: Gateway) -> str:
    """Sign up, two keys, calls, a redeemed code and a top-up; the first key's id."""
    await page.goto(gw.base + "/ui/signup")
    await page.fill("input[name=email]", EMAIL)
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=confirm]", PASSWORD)
    await page.click("form button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))
    secrets = []
    for name, budget in (("laptop", "10"), ("ci-pipeline", "")):
        await page.goto(gw.base + "/ui/keys")
        await page.fill("input[name=name]", name)
        if budget:
            await page.fill("input[name=budget_usd]", budget)
        await page.click("form[action='/ui/keys'] button[type=submit]")
        secrets.append((await page.text_content("[data-testid=new-secret]") or "").strip())
    await use_keys(gw, secrets)
    (code,) = (await gw.call("POST", "/admin/redemption-codes",
                             {"batch": "welcome", "count": 1, "amount_usd": "10"}))["codes"]  # fmt: skip
    await page.goto(gw.base + "/ui/redeem")
    await page.fill("input[name=code]", code)
    await page.click("form[action='/ui/redeem'] button[type=submit]")
    await top_up(page, gw)
    await page.goto(gw.base + "/ui/keys")
    found = re.search(r"/ui/keys/(\d+)/edit", await page.content())
    assert found is not None
    return found.group(1)


async def sign_in(page: Any, gw: Gateway, email: str, password: str) -> None:
    await page.goto(gw.base + "/ui/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("form button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/dashboard$"))


async def chat(page: Any) -> None:
    """The playground with one streamed answer on it."""
    await page.fill("#pg-input", "Write a haiku about rain")
    await page.click("#pg-send")
    await page.wait_for_function(
        "() => { const m = document.querySelector('#pg-log .msg.assistant');"
        " return m && !m.classList.contains('pending') && m.textContent.length > 0; }"
    )


async def capture(browser: Any, gw: Gateway, who: str, lang: str, key_id: str, args: Any) -> None:
    for size, (width, height) in SIZES.items():
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        await page.goto(f"{gw.base}/ui/login?lang={LANGUAGES[lang]}")
        if who != "visitor":
            await sign_in(
                page, gw, *((EMAIL, PASSWORD) if who == "customer" else (ADMIN_EMAIL, ADMIN_PASSWORD))
            )
        for name, (owner, path) in PAGES.items():
            if owner != who or (args.pages and name not in args.pages):
                continue
            await page.goto(gw.base + path.format(key_id=key_id))
            if name == "playground":
                await chat(page)
            folder = args.out / lang / size
            folder.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(folder / f"{name}.png"), full_page=args.full)
            print(f"{lang}/{size}/{name}.png")
        await context.close()


def optimise(folder: Path) -> None:
    """Fewer colours (pngquant, when installed): about a third of the size, looking the same."""
    tool = shutil.which("pngquant")
    if tool is None:
        print("pngquant is not installed: the PNGs are kept as Chromium wrote them")
        return
    for png in folder.rglob("*.png"):
        subprocess.run([tool, "--force", "--skip-if-larger", "--strip", "--quality", "70-95",
                        "--output", str(png), str(png)], check=False)  # fmt: skip


def preflight() -> None:
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium is needed ({CHROMIUM}): apt-get install chromium")
    fc_list = shutil.which("fc-list")  # fontconfig, which Chromium uses
    found = (
        subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True, check=False)
        if fc_list
        else None
    )
    if found is None or not found.stdout.strip():
        raise SystemExit("no Chinese font: the zh-CN pages would show boxes (apt-get install fonts-noto-cjk)")


async def main(args: Any) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="hubgate-shots-") as tmp:
        gw = Gateway(Path(tmp))
        try:
            await gw.start()
            await seed_admin(gw)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
                seeding = await browser.new_context()
                key_id = await seed_customer(await seeding.new_page(), gw)
                await seeding.close()
                for lang in LANGUAGES:
                    for who in ("visitor", "customer", "admin"):
                        await capture(browser, gw, who, lang, key_id, args)
                await browser.close()
        finally:
            await gw.stop()
    optimise(args.out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--pages", type=lambda s: set(s.split(",")), default=set())
    parser.add_argument("--full", action="store_true", help="whole pages, not one screen")
    preflight()
    asyncio.run(main(parser.parse_args()))
