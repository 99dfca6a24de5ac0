"""EPay (易支付): the MD5-signed payment page and notify callback that new-api uses for
Alipay and WeChat Pay.

The signature: every parameter except `sign` and `sign_type` whose value is not empty,
sorted by name, joined as `k=v&k=v`, the merchant key appended, MD5 in lower-case hex.
The customer is sent to `<url>/submit.php?...&sign=..&sign_type=MD5`; the gateway then
calls `notify_url` (GET, or POST form) with pid, trade_no, out_trade_no, type, name,
money, trade_status and the same kind of signature, and expects the body `success`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

PAID = "TRADE_SUCCESS"


def sign(params: Mapping[str, str], key: str) -> str:
    fields = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type") and v != "")
    text = "&".join(f"{k}={v}" for k, v in fields) + key
    return hashlib.md5(text.encode()).hexdigest()


def verify(params: Mapping[str, str], key: str) -> bool:
    given = params.get("sign", "")
    return bool(given) and hmac.compare_digest(sign(params, key), given.lower())


def submit_url(
    base: str, *, pid: str, key: str, pay_type: str, order_id: str, name: str, money: str,
    notify_url: str, return_url: str,
) -> str:  # fmt: skip
    params = {
        "pid": pid,
        "type": pay_type,
        "out_trade_no": order_id,
        "notify_url": notify_url,
        "return_url": return_url,
        "name": name,
        "money": money,
    }
    params["sign"] = sign(params, key)
    params["sign_type"] = "MD5"
    return f"{base.rstrip('/')}/submit.php?{urlencode(params)}"
