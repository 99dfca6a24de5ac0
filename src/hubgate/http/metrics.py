"""`GET /metrics`: the Prometheus scrape target.

Open, like `/healthz`: it shows traffic, key names and spend but no secrets. Expose
the gateway's port to scrapers only on an internal network, or have the reverse
proxy in front of it refuse `/metrics` (and `/api/metrics`) from outside.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from hubgate.gateway import GATEWAY
from hubgate.observability.metrics import CONTENT_TYPE


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Every worker's metrics in the text exposition format 0.0.4."""
    metrics = request.app[GATEWAY].metrics
    # Rendering (and, with several workers, reading their files) is synchronous work
    # that grows with the series count: keep it off the event loop.
    body = await asyncio.to_thread(metrics.render)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
