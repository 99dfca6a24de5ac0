"""The application key under which the running Gateway lives."""

from __future__ import annotations

from aiohttp import web

from hubgate.gateway import Gateway
from hubgate.http.rate_classes import RateClasses

GATEWAY = web.AppKey("gateway", Gateway)
REQUEST_ID = web.RequestKey("request_id", str)
RATE_HEADERS = web.RequestKey("rate_headers", dict)  # x-ratelimit-* for the answer
CLIENT_IP = web.RequestKey("client_ip", str)
RATE_CLASSES = web.AppKey("rate_classes", RateClasses)  # per-address limits by path, built once
