"""Rate-limit classes per client address, over HTTP: each class's burst then a 429 with
Retry-After in its callers' error shape, and one bucket shared by two gateways through Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from hubgate.settings import ConfigError, load_settings, parse_settings
from tests.conftest import LiveGateway, _serve, live_gateway
from tests.fakes.openai_upstream import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
CLASSES = {
    "model_api": {"rpm": 60, "burst": 3},
    "api": {"rpm": 60, "burst": 2},
    "oauth": {"rpm": 10, "burst": 1},
    "signup": {"rpm": 5, "burst": 1},
}


def _config(database_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "trusted_proxies": ["127.0.0.0/8"],
        "rate_limits": CLASSES,
        "channels": [{"name": "rc-echo", "type": "echo", "models": ["rc-echo"]}],
        **extra,
    }


@pytest.fixture(scope="module")
async def classed(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI
) -> AsyncIterator[LiveGateway]:
    db = tmp_path_factory.mktemp("rc") / "rc.db"
    async with live_gateway(_config(f"sqlite+aiosqlite:///{db}"), fake_openai) as gw:
        yield gw


async def _hit(
    http: aiohttp.ClientSession, url: str, client: str, method: str = "GET", **kw: Any
) -> tuple[int, dict[str, str], bytes]:
    headers = {"X-Forwarded-For": f"{client}, 127.0.0.1", **kw.pop("headers", {})}
    async with http.request(method, url, headers=headers, allow_redirects=False, **kw) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()


def _client() -> str:
    return f"203.0.113.{uuid.uuid4().int % 250}"


async def test_model_api_burst_then_429_in_each_family_shape(classed: LiveGateway) -> None:
    async with aiohttp.ClientSession() as http:
        client = _client()
        statuses = [(await _hit(http, f"{classed.url}/v1/models", client))[0] for _ in range(3)]
        assert statuses == [401, 401, 401]  # the burst of 3 (no key: refused, but counted)
        status, headers, body = await _hit(http, f"{classed.url}/v1/models", client)
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert orjson.loads(body)["error"]["type"] == "rate_limit_error"  # OpenAI's shape
        status, _, body = await _hit(http, f"{classed.url}/v1/messages", client, "POST", json={})
        assert status == 429 and orjson.loads(body)["type"] == "error"  # Anthropic's shape
        status, _, body = await _hit(http, f"{classed.url}/api/v1/chat/completions", client, "POST")
        assert status == 429  # /api/v1/* is the model API too, the same bucket
        # Health checks and the other classes are not drawn from this bucket.
        assert (await _hit(http, f"{classed.url}/healthz", client))[0] == 200
        assert (await _hit(http, f"{classed.url}/api/user/self", client))[0] != 429


async def test_api_class_answers_success_false(classed: LiveGateway) -> None:
    async with aiohttp.ClientSession() as http:
        client = _client()
        for _ in range(2):
            assert (await _hit(http, f"{classed.url}/api/status", client))[0] != 429
        status, headers, body = await _hit(http, f"{classed.url}/api/status", client)
        assert status == 429 and int(headers["retry-after"]) >= 1
        answer = orjson.loads(body)
        assert answer["success"] is False and "Too many requests" in answer["message"]


async def test_oauth_and_signup_classes_answer_pages(classed: LiveGateway) -> None:
    async with aiohttp.ClientSession() as http:
        client = _client()
        url = f"{classed.url}/ui/oauth/github/start"
        assert (await _hit(http, url, client))[0] != 429  # burst of 1
        status, headers, body = await _hit(http, url, client)
        assert status == 429 and headers["content-type"].startswith("text/html")
        assert "location" not in headers and int(headers["retry-after"]) >= 6  # 10/min
        assert (await _hit(http, f"{classed.url}/api/oauth/github", client))[0] == 429  # same class
        signup = f"{classed.url}/ui/signup"
        assert (await _hit(http, signup, client, "POST", data={}))[0] != 429
        status, headers, body = await _hit(http, signup, client, "POST", data={})
        assert status == 429 and b"Too many requests" in body and int(headers["retry-after"]) >= 6
        assert (await _hit(http, signup, client))[0] == 200  # the form page itself is not limited
        status, _, body = await _hit(http, f"{classed.url}/api/user/register", client, "POST")
        assert status == 429 and orjson.loads(body)["success"] is False  # the sign-up bucket, API shape


async def test_classes_shared_by_two_gateways_through_redis(pg_database: str, redis_url: str) -> None:
    settings = parse_settings(
        _config(pg_database, redis_url=redis_url, redis_prefix=f"hg-test-{uuid.uuid4().hex}:"), env={}
    )
    one, two = await _serve(settings), await _serve(settings)
    try:
        async with aiohttp.ClientSession() as http:
            client = _client()
            statuses = [(await _hit(http, f"{gw[2]}/v1/models", client))[0] for gw in (one, two, one, two)]
            assert statuses == [401, 401, 401, 429]  # one burst of 3 across both
            assert (await _hit(http, f"{two[2]}/api/status", client))[0] != 429  # another class
    finally:
        await one[0].cleanup()
        await two[0].cleanup()


def test_settings_classes_quickstart_and_legacy_conflict() -> None:
    quick = load_settings(ROOT / "examples/quickstart.yaml", env={})
    assert quick.rate_limits is not None and quick.rate_limits.model_api is not None
    assert (quick.rate_limits.model_api.rpm, quick.rate_limits.model_api.burst) == (60, 20)
    with pytest.raises(ConfigError, match="replaced by rate_limits"):
        parse_settings({"ip_rate_limit_rpm": 60, "rate_limits": {}}, env={})
    off = parse_settings({"rate_limits": {"api": None}}, env={})
    assert off.rate_limits is not None and off.rate_limits.api is None
