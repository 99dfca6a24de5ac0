"""Rate-limit classes per client address: which bucket a path draws from, and the 429.

The class table is built once from the settings: a dict from a path's first one or two
segments to its class, so a request costs two `find`s and two dict look-ups. Each class
is a token bucket per address in the limiter's store (one Lua script in Redis, memory
otherwise). The refusal speaks the caller's language: the model APIs' JSON error, the
user API's `{success: false, message}`, a plain page for the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson
from aiohttp import web

from hubgate.errors import RateLimited
from hubgate.settings import RateClassSettings, Settings

Shape = Literal["model", "api", "page"]

# First path segments of the caller-facing model APIs (also under /api/...).
MODEL_SEGMENTS = (
    "v1", "v1beta", "v2", "openai", "anthropic", "gemini", "videos", "responses", "images", "audio",
    "models", "rerank", "chat", "completions", "embeddings", "engines", "moderations", "dashboard",
    "mj", "suno", "kling",
)  # fmt: skip
UNLIMITED_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/api/healthz", "/api/readyz", "/api/metrics"}
)
SIGNUP_PATHS = frozenset({"/ui/signup", "/api/user/register"})  # POST only: the form page is free


@dataclass(frozen=True, slots=True)
class RateClass:
    name: str
    rate_per_s: float
    burst: int
    shape: Shape


_OFF = RateClass("off", 1.0, 1, "model")  # sentinel: a listed prefix whose class is turned off


class RateClasses:
    """The path → class table for one configuration."""

    def __init__(
        self, table: dict[str, RateClass], fallback: RateClass | None, signup: RateClass | None
    ) -> None:
        self._table = table
        self._fallback = fallback
        self._signup = signup
        self._signup_api = RateClass(signup.name, signup.rate_per_s, signup.burst, "api") if signup else None
        self._off = not table and fallback is None and signup is None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateClasses:
        if settings.rate_limits is None:  # the legacy single bucket, or nothing
            rpm = settings.ip_rate_limit_rpm
            whole = RateClass("ip", rpm / 60.0, settings.ip_rate_limit_burst, "model") if rpm else None
            return cls({}, whole, None)
        conf = settings.rate_limits

        def make(name: str, c: RateClassSettings | None, shape: Shape) -> RateClass | None:
            return RateClass(name, c.rpm / 60.0, c.burst, shape) if c is not None else None

        model, api = make("model_api", conf.model_api, "model"), make("api", conf.api, "api")
        oauth_api, oauth_page = make("oauth", conf.oauth, "api"), make("oauth", conf.oauth, "page")
        other_page, other_api = make("other", conf.other, "page"), make("other", conf.other, "model")
        entries: dict[str, RateClass | None] = {"/api": api, "/api/oauth": oauth_api, "/ui": other_page}
        entries |= {"/ui/oauth": oauth_page, "/admin": other_api}
        for segment in MODEL_SEGMENTS:
            entries[f"/{segment}"] = entries[f"/api/{segment}"] = model
        table = {prefix: c for prefix, c in entries.items() if c is not None}
        # Unlisted prefixes fall back to `other`; listed ones whose class is off are unlimited.
        for prefix, c in entries.items():
            if c is None:
                table[prefix] = _OFF
        return cls(table, other_api, make("signup", conf.signup, "page"))

    def classify(self, method: str, path: str) -> RateClass | None:
        """The class a request draws from, or None when it is not limited."""
        if self._off or path in UNLIMITED_PATHS:
            return None
        if method == "POST" and path in SIGNUP_PATHS and self._signup is not None:
            return self._signup_api if path.startswith("/api/") else self._signup
        end1 = path.find("/", 1)
        head1 = path if end1 < 0 else path[:end1]
        found = None
        if end1 > 0:
            end2 = path.find("/", end1 + 1)
            found = self._table.get(path if end2 < 0 else path[:end2])
        if found is None:
            found = self._table.get(head1, self._fallback)
        return None if found is _OFF else found


def refusal(err: RateLimited, shape: Shape, request_id: str) -> web.Response | None:
    """The 429 for the user API and console shapes; None: the model APIs' own error shape."""
    headers = {"x-request-id": request_id, "retry-after": str(err.retry_after)}
    if shape == "api":
        body = orjson.dumps({"success": False, "message": err.message})
        return web.Response(body=body, status=429, content_type="application/json", headers=headers)
    if shape == "page":
        text = (
            "<!doctype html><html><head><meta charset=utf-8><title>Too many requests</title></head>"
            f"<body><h1>Too many requests</h1><p>Please wait {err.retry_after} s and try again.</p>"
            "</body></html>"
        )
        return web.Response(text=text, status=429, content_type="text/html", headers=headers)
    return None


RATE_CLASSES = web.AppKey("rate_classes", RateClasses)  # per-address limits by path, built once
