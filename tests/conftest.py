"""Shared fixtures: databases (SQLite and the real PostgreSQL), fake upstreams, a live gateway."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import openai
import pytest
from aiohttp import web

from hubgate.app import create_app
from hubgate.gateway import GATEWAY, Gateway
from hubgate.settings import Settings, parse_settings
from hubgate.storage.keys import KeyRepository
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

PG_ADMIN_DSN = os.environ.get("HUBGATE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# PostgreSQL allows 100 connections and the suite shares them between two xdist workers, each of
# which keeps its session-scoped gateways (a dozen) alive to the end: a test gateway keeps 2
# connections open and opens up to 8 more for a burst (production defaults: 10 and 10).
TEST_POOL_SIZE, TEST_POOL_OVERFLOW = 2, 8
TEST_POOL = {"database_pool_size": TEST_POOL_SIZE, "database_pool_overflow": TEST_POOL_OVERFLOW}

ALICE_KEY = "sk-test-alice-0123456789abcdef"
LIMITED_KEY = "sk-test-limited-0123456789abcdef"
EXPIRED_KEY = "sk-test-expired-0123456789abcdef"
MATRIX_KEY = "sk-test-matrix-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pg_available() -> str | None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def _pg_admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    """hubgate's URL for the database `name` on the test PostgreSQL server."""
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end.

    Under CI=true a missing PostgreSQL fails the run instead of skipping.
    """
    problem = asyncio.run(_pg_available())
    if problem is not None:
        message = f"PostgreSQL at {PG_ADMIN_DSN} is not reachable ({problem})"
        if IN_CI:
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    name = f"hubgate_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    yield pg_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Each storage and end-to-end test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "hubgate.db"
        yield f"sqlite+aiosqlite:///{path}"
    else:
        yield request.getfixturevalue("pg_database")


@pytest.fixture(scope="session")
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        fake.delay_s = 3.0
        yield fake


# The OpenAI media family (tests/relay/test_media.py): per image, per second, per token, per character.
MEDIA_MODELS = ("omni-moderation-latest", "dall-e-2", "dall-e-3", "gpt-image-1", "whisper-1",
                "gpt-4o-transcribe", "tts-1", "whisper-retry")  # fmt: skip
MEDIA_PRICING = {
    "dall-e-3": {"input": 0, "per_request": "0.04"},  # USD per image
    "gpt-image-1": {"input": 5, "output": 40},  # USD per 1M tokens
    "whisper-1": {"input": 0, "per_request": "0.0001"},  # USD per second of audio
    "gpt-4o-transcribe": {"input": "2.5", "output": 10},
    "tts-1": {"input": 15},  # USD per 1M input characters
}


def gateway_config(fake: FakeOpenAI, database_url: str, dead_port: int) -> dict[str, Any]:
    fake_models = [
        "gpt-4o-mini",
        "cached-gpt",
        "tool",
        "fail-500",
        "fail-429",
        "fail-400",
        "leak-key",
        "bad-json",
        "slow-stream",
        "no-usage",
        "text-embedding-3-small",
        "gpt-3.5-turbo-instruct",
        *MEDIA_MODELS,
    ]
    return {
        "database_url": database_url,
        "max_body_mb": 1,
        "cooldown_after_failures": 0,  # the shared gateway hits failing models on purpose, many times
        "usage_flush_interval_s": 0.05,
        "channels": [
            {
                "name": "main",
                "type": "openai",
                "base_url": fake.base_url,
                "api_key": DEFAULT_API_KEY,
                "models": fake_models,
                "model_map": {"gpt-fast": "gpt-4o-mini", "whisper-retry": "whisper-1"},
            },
            # Fails (HTTP 500) first, so an upload must be sent again to "main".
            {
                "name": "media-flaky",
                "type": "openai",
                "base_url": fake.base_url,
                "api_key": DEFAULT_API_KEY,
                "models": ["whisper-retry"],
                "model_map": {"whisper-retry": "fail-500"},
                "priority": 10,
            },
            {
                "name": "slowpoke",
                "type": "openai",
                "base_url": fake.base_url,
                "api_key": DEFAULT_API_KEY,
                "models": ["slow"],
                "timeout_s": 0.5,
            },
            {
                "name": "azure-east",
                "type": "azure",
                "base_url": fake.root_url,
                "api_key": DEFAULT_API_KEY,
                "models": ["azure-gpt", "azure-whisper"],
                "model_map": {"azure-gpt": "my-deployment", "azure-whisper": "whisper-1"},
            },
            # A dead upstream at higher priority: every request for these models
            # first fails to connect there and must be retried on the next channel.
            {
                "name": "dead",
                "type": "openai",
                "base_url": f"http://127.0.0.1:{dead_port}/v1",
                "api_key": "sk-dead-upstream",
                "models": ["failover-model", "dead-only"],
                "priority": 10,
            },
            {
                "name": "backup",
                "type": "openai",
                "base_url": fake.base_url,
                "api_key": DEFAULT_API_KEY,
                "models": ["failover-model"],
                "model_map": {"failover-model": "gpt-4o-mini"},
            },
            {"name": "echo", "type": "echo", "models": ["echo-1", "echo-embed"]},
        ],
        "keys": [
            {"name": "alice", "key": ALICE_KEY},
            {"name": "limited", "key": LIMITED_KEY, "models": ["gpt-4o-mini"]},
            {"name": "expired", "key": EXPIRED_KEY, "expires_at": "2020-01-01T00:00:00Z"},
        ],
        "pricing": MEDIA_PRICING,
    }


@dataclass
class LiveGateway:
    url: str
    app: web.Application
    settings: Settings
    fake: FakeOpenAI

    @property
    def state(self) -> Gateway:
        return self.app[GATEWAY]

    def client(self, key: str = ALICE_KEY, **kwargs: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, **kwargs)

    async def new_key(self, **fields: Any) -> tuple[str, str]:
        """A fresh key (name, secret), so a test's usage rows are its own."""
        name = f"k-{uuid.uuid4().hex[:10]}"
        _, secret = await KeyRepository(self.state.engine).create(name, source="test", **fields)
        return name, secret

    async def usage_rows(self, key_name: str) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from hubgate.storage.tables import usage_logs

        await self.state.usage.flush()
        async with self.state.engine.connect() as conn:
            rows = await conn.execute(
                select(usage_logs).where(usage_logs.c.key_name == key_name).order_by(usage_logs.c.id)
            )
            return [dict(r._mapping) for r in rows]


@pytest.fixture(scope="session")
async def gateway(database_url: str, fake_openai: FakeOpenAI) -> AsyncIterator[LiveGateway]:
    """A running hubgate (in this process, on a real port) in front of the fake upstream."""
    settings = parse_settings(gateway_config(fake_openai, database_url, free_port()), env={})
    app = create_app(small_pools(settings))
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield LiveGateway(url=f"http://127.0.0.1:{port}", app=app, settings=settings, fake=fake_openai)
    finally:
        await runner.cleanup()


@dataclass
class Upstreams:
    """One fake upstream per wire format, for the caller x upstream matrix."""

    openai: FakeOpenAI
    anthropic: Any
    gemini: Any
    responses: Any


@pytest.fixture(scope="session")
async def upstreams(fake_openai: FakeOpenAI) -> AsyncIterator[Upstreams]:
    from tests.fakes.anthropic_upstream import FakeAnthropic
    from tests.fakes.gemini_upstream import FakeGemini
    from tests.fakes.responses_upstream import FakeResponses

    async with FakeAnthropic() as anthropic, FakeGemini() as gemini, FakeResponses() as responses:
        yield Upstreams(fake_openai, anthropic, gemini, responses)


# Public model names of the matrix gateway: `m-<upstream>` answers, `m-<upstream>-tool`
# calls a tool, `m-<upstream>-fail` fails with HTTP 500, `m-<upstream>-slow` streams slowly.
MATRIX_UPSTREAMS = ("openai", "anthropic", "gemini", "responses")
_MATRIX_UPSTREAM_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "responses": "gpt-5-mini",
}


def matrix_config(ups: Upstreams, database_url: str) -> dict[str, Any]:
    bases = {
        "openai": ("openai", ups.openai.base_url, ups.openai.api_key, {}),
        "anthropic": ("anthropic", ups.anthropic.base_url, ups.anthropic.api_key, {}),
        "gemini": ("gemini", ups.gemini.base_url, ups.gemini.api_key, {}),
        "responses": ("openai", ups.responses.base_url, ups.responses.api_key, {"api": "responses"}),
    }
    channels = []
    for name, (kind, base_url, key, extra) in bases.items():
        real = _MATRIX_UPSTREAM_MODELS[name]
        model_map = {
            f"m-{name}": real,
            f"m-{name}-tool": "tool",
            f"m-{name}-fail": "fail-500",
            f"m-{name}-slow": "slow-stream",
            f"m-{name}-cached": f"cached-{real}",
        }
        if name == "openai":
            model_map["embed-o"] = "text-embedding-3-small"
        if name == "gemini":
            model_map["embed-g"] = "gemini-embedding-001"
        channels.append(
            {"name": f"up-{name}", "type": kind, "base_url": base_url, "api_key": key,
             "models": list(model_map), "model_map": model_map, **extra}
        )  # fmt: skip
    return {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": 0,
        "channels": channels,
        "keys": [{"name": "matrix", "key": MATRIX_KEY}],
    }


@contextlib.asynccontextmanager
async def live_gateway(config: dict[str, Any], fake: Any) -> AsyncIterator[LiveGateway]:
    """A hubgate serving `config` (in this process, on a real port) until the block exits."""
    settings = parse_settings(config, env={})
    runner, app, url = await _serve(settings)
    try:
        yield LiveGateway(url=url, app=app, settings=settings, fake=fake)
    finally:
        await runner.cleanup()


def small_pools(settings: Settings) -> Settings:
    """`settings` with the test suite's small PostgreSQL pool (:data:`TEST_POOL`)."""
    return settings.model_copy(update=TEST_POOL)


async def _serve(settings: Settings) -> tuple[web.AppRunner, web.Application, str]:
    app = create_app(small_pools(settings))
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, app, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
async def matrix_gateway(database_url: str, upstreams: Upstreams) -> AsyncIterator[LiveGateway]:
    """A hubgate with one channel per upstream wire format."""
    async with live_gateway(matrix_config(upstreams, database_url), upstreams.openai) as gw:
        yield gw


REDIS_URL = os.environ.get("HUBGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
async def redis_url() -> AsyncIterator[str]:
    """The real Redis (required under CI=true)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is required under CI: {exc}")
        pytest.skip(f"Redis not reachable: {exc}")
    finally:
        await redis.aclose()
    yield REDIS_URL
