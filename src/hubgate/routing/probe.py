"""One tiny request through one channel: is it up, and how fast does it answer?"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from hubgate.providers import provider_for
from hubgate.providers.base import Endpoint, UpstreamConnectError, UpstreamReadTimeout
from hubgate.providers.channel import Channel
from hubgate.providers.http import HttpTransport
from hubgate.settings import ChannelSettings


@dataclass(frozen=True)
class ChannelTestResult:
    channel: str
    model: str
    ok: bool
    status: int | None
    latency_ms: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def test_channel(settings: ChannelSettings, model: str | None = None) -> ChannelTestResult:
    channel = Channel.from_settings(settings)
    public = model or settings.models[0]
    endpoint = Endpoint.EMBEDDINGS if "embed" in public else Endpoint.GENERATE
    provider = provider_for(channel.type)
    upstream_model = channel.upstream_model(public)
    body = provider.test_body(channel, endpoint, upstream_model)
    request = provider.build(channel, endpoint, upstream_model, body, stream=False, key=channel.next_key())
    http = HttpTransport(limit=1)
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        resp = await provider.transport(http).send(request)
        status = resp.status
        body = await resp.read()
        if status >= 400:
            error = f"HTTP {status}: {body[:300].decode(errors='replace')}"
            if request.secret:
                error = error.replace(request.secret, "***")
    except (UpstreamConnectError, UpstreamReadTimeout) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        await http.close()
    latency = int((time.perf_counter() - started) * 1000)
    return ChannelTestResult(settings.name, public, error is None, status, latency, error)
