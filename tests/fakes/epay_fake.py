"""A fake EPay (易支付): the MD5-signed payment page and the signed notify callback.

`/submit.php` (GET or POST) checks the merchant id and the signature like EPay: every
parameter but `sign` and `sign_type` with a value, sorted by name, `k=v` joined by `&`,
the merchant key appended, MD5 lower-case hex. :meth:`pay` then calls the order's
`notify_url` as EPay does (GET query by default, or a POST form) with pid, trade_no,
out_trade_no, type, name, money, trade_status=TRADE_SUCCESS, sign and sign_type=MD5.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes._server import FakeServer

PID = "1001"
KEY = "fake-epay-merchant-key-0123456789"
REQUIRED = ("pid", "type", "out_trade_no", "notify_url", "name", "money", "sign")


def md5_sign(params: Mapping[str, str], key: str) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type") and v)
    return hashlib.md5(("&".join(f"{k}={v}" for k, v in pairs) + key).encode()).hexdigest()


@dataclass
class FakeEpay(FakeServer):
    base_path = ""
    record_all = False
    orders: dict[str, dict[str, str]] = field(default_factory=dict)  # out_trade_no -> submitted params
    refusals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/submit.php", self.submit)
        app.router.add_route("POST", "/submit.php", self.submit)

    async def submit(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.method == "POST":
            params |= {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        missing = [name for name in REQUIRED if not params.get(name)]
        problem = f"missing {', '.join(missing)}" if missing else None
        if problem is None and params["pid"] != PID:
            problem = "unknown merchant"
        elif problem is None and params.get("sign_type", "MD5") != "MD5":
            problem = "unsupported sign_type"
        elif problem is None and not hmac.compare_digest(md5_sign(params, KEY), params["sign"]):
            problem = "签名校验失败 (bad sign)"
        if problem is not None:
            self.refusals.append(problem)
            return web.Response(status=400, text=problem)
        self.orders[params["out_trade_no"]] = params
        return web.Response(text=f"<html><body>Pay ¥{params['money']} for {params['name']}</body></html>",
                            content_type="text/html")  # fmt: skip

    def notify_params(
        self, out_trade_no: str, *, status: str = "TRADE_SUCCESS", **changes: str
    ) -> dict[str, str]:
        order = self.orders[out_trade_no]
        params = {
            "pid": PID, "trade_no": order.setdefault("_trade_no", "2026" + secrets.token_hex(8)),
            "out_trade_no": out_trade_no, "type": order["type"], "name": order["name"],
            "money": order["money"], "trade_status": status,
        }  # fmt: skip
        params |= changes
        params["sign"] = md5_sign(params, KEY)
        params["sign_type"] = "MD5"
        return params

    async def notify(
        self, out_trade_no: str, params: dict[str, str], *, post: bool = False
    ) -> tuple[int, str]:
        url = self.orders[out_trade_no]["notify_url"]
        async with aiohttp.ClientSession() as http:
            call: Any = http.post(url, data=params) if post else http.get(url, params=params)
            async with call as resp:
                return resp.status, await resp.text()

    async def pay(self, out_trade_no: str, *, post: bool = False) -> tuple[int, str]:
        """The customer paid: EPay notifies the merchant; the status and body of its answer."""
        return await self.notify(out_trade_no, self.notify_params(out_trade_no), post=post)
