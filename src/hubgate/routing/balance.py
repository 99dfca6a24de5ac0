"""An upstream account's remaining credit, for upstreams that say it.

OpenAI-compatible relays (one-api, new-api and their kin) answer the legacy billing
dashboard: `GET /v1/dashboard/billing/subscription` gives `hard_limit_usd` (the account's
quota, in dollars) and `GET /v1/dashboard/billing/usage?start_date=&end_date=` gives
`total_usage` in US cents over those days; what is left is the difference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from hubgate.providers.base import UpstreamConnectError, UpstreamReadTimeout, UpstreamRequest
from hubgate.providers.channel import Channel, Timeouts
from hubgate.providers.http import HttpTransport
from hubgate.settings import ChannelSettings

BALANCE_TYPES = frozenset({"openai"})  # channel types whose upstream may answer the billing dashboard
USAGE_DAYS = 100  # how far back the usage is summed (the relays count from the key's creation)


class BalanceUnavailable(Exception):
    """The upstream does not say its balance, or did not answer; the message says which."""


@dataclass(frozen=True)
class Balance:
    channel: str
    limit_usd: float
    used_usd: float
    remaining_usd: float
    checked_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def dashboard_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root if root.endswith("/v1") else root + "/v1"


async def _get(http: HttpTransport, url: str, key: str, timeout_s: float) -> dict[str, Any]:
    t = min(timeout_s, 30.0)
    request = UpstreamRequest(
        url=url, headers={"authorization": f"Bearer {key}", "accept": "application/json"}, body=b"",
        timeouts=Timeouts(connect_s=t, first_byte_s=t, idle_s=t, total_s=t, stream_s=t),
        stream=False, secret=key, method="GET",
    )  # fmt: skip
    try:
        resp = await http.send(request)
        status, raw = resp.status, await resp.read()
    except (UpstreamConnectError, UpstreamReadTimeout):
        raise BalanceUnavailable("the upstream did not answer") from None
    if status in (401, 403):
        raise BalanceUnavailable(f"the upstream refused the channel's key (HTTP {status})")
    if status >= 400:
        raise BalanceUnavailable(f"the upstream does not report a balance (HTTP {status})")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BalanceUnavailable("the upstream's billing answer is not JSON") from None
    if not isinstance(data, dict):
        raise BalanceUnavailable("the upstream's billing answer is not an object")
    return data


def _number(data: dict[str, Any], field: str) -> float:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BalanceUnavailable(f"the upstream's billing answer has no number '{field}'")
    return float(value)


async def query_balance(settings: ChannelSettings, now: datetime | None = None) -> Balance:
    """The channel's upstream balance (with its first key); BalanceUnavailable if none."""
    if settings.type not in BALANCE_TYPES or not settings.base_url:
        raise BalanceUnavailable(f"channels of type '{settings.type}' have no balance query")
    channel = Channel.from_settings(settings)
    if not channel.api_keys:
        raise BalanceUnavailable("the channel has no upstream key")
    now = now or datetime.now(UTC)
    root, key = dashboard_root(settings.base_url), channel.api_keys[0]
    window = {
        "start_date": (now - timedelta(days=USAGE_DAYS)).strftime("%Y-%m-%d"),
        "end_date": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
    }
    http = HttpTransport(limit=2)
    try:
        timeout = settings.timeout_s
        limit = _number(await _get(http, f"{root}/dashboard/billing/subscription", key, timeout),
                        "hard_limit_usd")  # fmt: skip
        usage = await _get(http, f"{root}/dashboard/billing/usage?{urlencode(window)}", key, timeout)
        used = _number(usage, "total_usage") / 100  # cents
    finally:
        await http.close()
    return Balance(settings.name, round(limit, 6), round(used, 6), round(limit - used, 6),
                   now.isoformat())  # fmt: skip
