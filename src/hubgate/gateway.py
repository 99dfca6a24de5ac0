"""The gateway's running state, created in the app lifespan and reached through the app.

Layer: above access/, jobs' inputs and routing/storage (it holds their objects), below relay/
and the edge, which reach it through the `GATEWAY` app key. The per-request keys the edge
sets and the relay reads (request id, client address, rate-limit headers) live here too,
so the relay never imports http/.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.access.auth import KeyCache
from hubgate.access.billing import Billing
from hubgate.access.network import Network
from hubgate.observability.metrics import Metrics
from hubgate.providers.http import HttpTransport
from hubgate.routing.catalogue import Catalogue
from hubgate.routing.channels import ChannelTable
from hubgate.routing.health import Health
from hubgate.routing.limits import Limiter
from hubgate.settings import Settings
from hubgate.storage.accounts import AccountRepository
from hubgate.storage.channels import AdminChannels
from hubgate.storage.keys import KeyRepository
from hubgate.storage.responses import ResponseStore
from hubgate.storage.usage import UsageWriter

Gettext = Callable[[str], str]


def _english(code: str | None) -> Gettext:
    return lambda message: message


@dataclass
class Gateway:
    settings: Settings
    engine: AsyncEngine
    key_repo: KeyRepository
    keys: KeyCache
    channels: ChannelTable
    usage: UsageWriter
    http: HttpTransport
    responses: ResponseStore
    accounts: AccountRepository
    billing: Billing
    health: Health
    limiter: Limiter
    trusted_proxies: tuple[Network, ...] = ()
    admin_channels: AdminChannels | None = None
    redis: object | None = None
    started_at: int = field(default_factory=lambda: int(time.time()))
    background: set[asyncio.Task[None]] = field(default_factory=set)  # usage estimates in progress
    metrics: Metrics = field(default_factory=Metrics)  # observability: Prometheus, fed by the relay
    catalogue: Catalogue = field(default_factory=Catalogue)  # catalogue_sync keeps it current
    file_settings: Settings | None = None  # the config file's; `settings` adds the stored run-time ones
    # A reader's saved language (a locale code, None: unknown) -> the gettext their mail is written
    # with; the console sets it at start from its catalogues (English until then).
    mail_language: Callable[[str | None], Gettext] = _english

    @property
    def max_body_bytes(self) -> int:
        return int(self.settings.max_body_mb * 1024 * 1024)


GATEWAY = web.AppKey("gateway", Gateway)
REQUEST_ID = web.RequestKey("request_id", str)
RATE_HEADERS = web.RequestKey("rate_headers", dict)  # x-ratelimit-* for the answer
CLIENT_IP = web.RequestKey("client_ip", str)
