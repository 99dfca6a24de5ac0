"""Error paths of the OpenAI-format relay, seen by a raw HTTP client and by the official SDK.

SPEC §4 (credentials) and §5 (errors): every error is OpenAI-shaped
(`{"error": {"message", "type", "code", "param"}}`), carries the right status and an
`x-request-id`, names the offending field, and never reveals the upstream key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from hubgate.storage.usage import UsageRow
from tests.conftest import ALICE_KEY, EXPIRED_KEY, LIMITED_KEY, LiveGateway
from tests.fakes.openai_upstream import DEFAULT_API_KEY

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
HELLO = [{"role": "user", "content": "hi"}]
LIMIT = 1024 * 1024  # max_body_mb: 1 in the test config
DEAD_UPSTREAM_KEY = "sk-dead-upstream"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)

    @property
    def text(self) -> str:
        return self.raw.decode(errors="replace")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    gateway: LiveGateway,
    path: str,
    *,
    method: str = "POST",
    key: str | None = ALICE_KEY,
    json: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Reply:
    hdrs = dict(headers or {})
    if key is not None:
        hdrs.setdefault("Authorization", f"Bearer {key}")
    if json is not None:
        data = orjson.dumps(json)
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    async with http.request(method, gateway.url + path, data=data, headers=hdrs, params=params) as resp:
        raw = await resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, raw)


def assert_openai_error(
    reply: Reply,
    status: int,
    *,
    param: str | None = None,
    code: str | None = None,
    mentions: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The reply is an OpenAI-shaped error with this status; returns the inner error object."""
    assert reply.status == status, (reply.status, reply.text)
    assert reply.headers.get("x-request-id"), f"no x-request-id on a {status}: {reply.headers}"
    assert reply.headers.get("content-type", "").startswith("application/json"), reply.headers
    body = reply.json
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict), body
    assert {"message", "type", "code", "param"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str) and err["type"], err
    if param is not None:
        assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    for word in mentions:
        assert word.lower() in err["message"].lower(), (word, err["message"])
    return err


async def rows_for(gateway: LiveGateway, key_name: str, *, count: int = 1, wait_s: float = 3.0) -> list[Any]:
    """The key's usage rows, polling until `count` are there (rows of hung-up streams land late)."""
    deadline = time.monotonic() + wait_s
    while True:
        rows = await gateway.usage_rows(key_name)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def drain_old_disconnects(gateway: LiveGateway) -> None:
    """Consume disconnects other tests left behind, so the next wait sees only ours."""
    while await gateway.fake.wait_for_disconnect(timeout=0):
        pass


# --------------------------------------------------------------------------------------------------------
# 1. bad input is refused at the edge, before any upstream is contacted

CHAT_BAD_BODIES: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("missing-model", {"messages": HELLO}, "model", ("model",)),
    ("missing-messages", {"model": "gpt-4o-mini"}, "messages", ("messages",)),
    ("messages-string", {"model": "gpt-4o-mini", "messages": "hi"}, "messages", ("messages",)),
    (
        "message-no-role",
        {"model": "gpt-4o-mini", "messages": [{"content": "hi"}]},
        "messages[0].role",
        ("messages[0].role",),
    ),
    (
        "message-bad-role",
        {"model": "gpt-4o-mini", "messages": [*HELLO, {"role": ["robot"], "content": "beep"}]},
        "messages[1].role",
        ("messages[1].role",),
    ),
    ("stream-yes", {"model": "gpt-4o-mini", "messages": HELLO, "stream": "yes"}, "stream", ("stream",)),
    ("model-int", {"model": 42, "messages": HELLO}, "model", ("model",)),
    ("model-empty", {"model": "", "messages": HELLO}, "model", ("model",)),
    ("messages-empty", {"model": "gpt-4o-mini", "messages": []}, "messages", ("messages",)),
    (
        "max-tokens-string",
        {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": "10"},
        "max_tokens",
        ("max_tokens",),
    ),
    (
        "include-usage-string",
        {"model": "gpt-4o-mini", "messages": HELLO, "stream": True, "stream_options": {"include_usage": "x"}},
        "stream_options.include_usage",
        ("include_usage",),
    ),
]

EMBEDDING_BAD_BODIES: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("missing-input", {"model": "text-embedding-3-small"}, "input", ("input",)),
    (
        "encoding-int8",
        {"model": "text-embedding-3-small", "input": "hi", "encoding_format": "int8"},
        "encoding_format",
        ("encoding_format",),
    ),
]


@pytest.mark.parametrize(
    ("raw", "mentions"),
    [
        pytest.param(b'{"model": "gpt-4o-mini", "messages": [', ("json",), id="malformed"),
        pytest.param(b"", ("empty",), id="empty"),
        pytest.param(b"   \n", ("empty",), id="blank"),
        pytest.param(b'[{"model": "gpt-4o-mini"}]', ("object",), id="array"),
        pytest.param(b'"hello"', ("object",), id="string"),
    ],
)
async def test_unparseable_bodies_are_400(
    gateway: LiveGateway, http: aiohttp.ClientSession, raw: bytes, mentions: tuple[str, ...]
) -> None:
    before = len(gateway.fake.requests)
    reply = await call(http, gateway, CHAT, data=raw, headers={"Content-Type": "application/json"})
    err = assert_openai_error(reply, 400, mentions=mentions)
    assert err["type"] == "invalid_request_error"
    assert len(gateway.fake.requests) == before, "a malformed body reached the upstream"


@pytest.mark.parametrize(
    ("body", "param", "mentions"),
    [pytest.param(b, p, m, id=i) for i, b, p, m in CHAT_BAD_BODIES],
)
async def test_invalid_chat_fields_are_400_naming_the_field(
    gateway: LiveGateway,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    param: str,
    mentions: tuple[str, ...],
) -> None:
    before = len(gateway.fake.requests)
    reply = await call(http, gateway, CHAT, json=body)
    err = assert_openai_error(reply, 400, param=param, mentions=mentions)
    assert err["type"] == "invalid_request_error"
    assert len(gateway.fake.requests) == before, "an invalid body reached the upstream"


@pytest.mark.parametrize(
    ("body", "param", "mentions"),
    [pytest.param(b, p, m, id=i) for i, b, p, m in EMBEDDING_BAD_BODIES],
)
async def test_invalid_embedding_fields_are_400_naming_the_field(
    gateway: LiveGateway,
    http: aiohttp.ClientSession,
    body: dict[str, Any],
    param: str,
    mentions: tuple[str, ...],
) -> None:
    before = len(gateway.fake.requests)
    reply = await call(http, gateway, EMBEDDINGS, json=body)
    assert_openai_error(reply, 400, param=param, mentions=mentions)
    assert len(gateway.fake.requests) == before, "an invalid body reached the upstream"


async def test_sdk_sees_invalid_fields_as_bad_request(gateway: LiveGateway) -> None:
    before = len(gateway.fake.requests)
    client = gateway.client(ALICE_KEY)
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": ["robot"], "content": "beep"}],  # type: ignore[list-item,misc]
        )
    assert info.value.status_code == 400
    assert info.value.param == "messages[0].role"
    assert info.value.response.headers.get("x-request-id")
    with pytest.raises(openai.BadRequestError) as info:
        await client.embeddings.create(
            model="text-embedding-3-small",
            input="hi",
            encoding_format="int8",  # type: ignore[arg-type]
        )
    assert info.value.param == "encoding_format"
    assert len(gateway.fake.requests) == before


# --------------------------------------------------------------------------------------------------------
# 2. body size limit


def _chat_body_of_size(size: int) -> bytes:
    """A valid chat body of exactly `size` bytes."""
    skeleton = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ""}]})
    pad = size - len(skeleton)
    assert pad >= 0
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a" * pad}]})
    assert len(body) == size
    return body


async def test_body_over_limit_with_content_length_is_413(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    before = len(gateway.fake.requests)
    reply = await call(http, gateway, CHAT, data=_chat_body_of_size(LIMIT + 1))
    err = assert_openai_error(reply, 413)
    assert "1 mb" in err["message"].lower() or "limit" in err["message"].lower(), err
    assert len(gateway.fake.requests) == before


async def test_chunked_body_over_limit_is_413(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    before = len(gateway.fake.requests)
    body = _chat_body_of_size(2 * LIMIT)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    async with http.post(
        gateway.url + CHAT,
        data=chunks(),
        headers={"Authorization": f"Bearer {ALICE_KEY}", "Content-Type": "application/json"},
    ) as resp:
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in resp.request_info.headers
        reply = Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read())
    assert_openai_error(reply, 413)
    assert len(gateway.fake.requests) == before


async def test_body_at_the_limit_is_accepted(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    reply = await call(http, gateway, CHAT, data=_chat_body_of_size(LIMIT))
    assert reply.status == 200, reply.text[:500]
    assert reply.json["choices"][0]["message"]["content"].startswith("Hello! You said: aaaa")

    body = _chat_body_of_size(LIMIT - 1)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 100_000):
            yield body[i : i + 100_000]

    async with http.post(
        gateway.url + CHAT,
        data=chunks(),
        headers={"Authorization": f"Bearer {ALICE_KEY}", "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200, (await resp.read())[:500]


# --------------------------------------------------------------------------------------------------------
# 3. credentials


async def test_missing_key_is_401(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    reply = await call(http, gateway, CHAT, key=None, json={"model": "echo-1", "messages": HELLO})
    err = assert_openai_error(reply, 401, mentions=("key",))
    assert err["type"] == "authentication_error"
    reply = await call(http, gateway, "/v1/models", method="GET", key=None)
    assert_openai_error(reply, 401)


async def test_unknown_key_is_401(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    reply = await call(
        http, gateway, CHAT, key="sk-hg-not-a-real-key-at-all", json={"model": "echo-1", "messages": HELLO}
    )
    assert_openai_error(reply, 401, code="invalid_api_key")
    assert "sk-hg-not-a-real-key-at-all" not in reply.text
    with pytest.raises(openai.AuthenticationError):
        await gateway.client("sk-hg-not-a-real-key-at-all").chat.completions.create(
            model="echo-1", messages=HELLO
        )


async def test_expired_key_is_401(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    reply = await call(http, gateway, CHAT, key=EXPIRED_KEY, json={"model": "echo-1", "messages": HELLO})
    assert_openai_error(reply, 401, mentions=("expired",))
    _, secret = await gateway.new_key(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(openai.AuthenticationError):
        await gateway.client(secret).chat.completions.create(model="echo-1", messages=HELLO)


async def test_revoked_key_stops_working_after_invalidate(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    name, secret = await gateway.new_key()
    ok = await call(http, gateway, CHAT, key=secret, json={"model": "echo-1", "messages": HELLO})
    assert ok.status == 200, ok.text
    await gateway.state.key_repo.revoke(name)
    gateway.state.keys.invalidate()
    reply = await call(http, gateway, CHAT, key=secret, json={"model": "echo-1", "messages": HELLO})
    assert_openai_error(reply, 401, mentions=("revoked",))


async def test_revoked_key_stops_working_without_invalidate(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    name, secret = await gateway.new_key()
    ok = await call(http, gateway, CHAT, key=secret, json={"model": "echo-1", "messages": HELLO})
    assert ok.status == 200, ok.text  # now cached for key_cache_ttl_s (30 s)
    await gateway.state.key_repo.revoke(name)
    revoked_at = time.monotonic()
    reply = ok
    while time.monotonic() - revoked_at < 3.0:
        reply = await call(http, gateway, CHAT, key=secret, json={"model": "echo-1", "messages": HELLO})
        if reply.status != 200:
            break
        await asyncio.sleep(0.1)
    took = time.monotonic() - revoked_at
    assert_openai_error(reply, 401, mentions=("revoked",))
    assert took < 2.5, f"revocation took {took:.2f}s to reach the key cache"


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        pytest.param({"Authorization": "Bearer {k}"}, None, id="bearer"),
        pytest.param({"Authorization": "bearer {k}"}, None, id="bearer-lowercase"),
        pytest.param({"x-api-key": "{k}"}, None, id="x-api-key"),
        pytest.param({"x-goog-api-key": "{k}"}, None, id="x-goog-api-key"),
        pytest.param({}, {"key": "{k}"}, id="query-key"),
    ],
)
async def test_key_accepted_from_every_sdk_location(
    gateway: LiveGateway,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    params: dict[str, str] | None,
) -> None:
    name, secret = await gateway.new_key()
    hdrs = {k: v.format(k=secret) for k, v in headers.items()}
    query = {k: v.format(k=secret) for k, v in params.items()} if params else None
    reply = await call(
        http,
        gateway,
        CHAT,
        key=None,
        headers=hdrs,
        params=query,
        json={"model": "echo-1", "messages": HELLO},
    )
    assert reply.status == 200, reply.text
    assert reply.headers.get("x-request-id")
    rows = await rows_for(gateway, name)
    assert [r["status"] for r in rows] == [200]


# --------------------------------------------------------------------------------------------------------
# 4. model checks


async def test_unknown_model_is_404(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    before = len(gateway.fake.requests)
    reply = await call(http, gateway, CHAT, json={"model": "no-such-model", "messages": HELLO})
    assert_openai_error(reply, 404, code="model_not_found", param="model", mentions=("no-such-model",))
    reply = await call(http, gateway, EMBEDDINGS, json={"model": "no-such-embedder", "input": "x"})
    assert_openai_error(reply, 404, code="model_not_found", mentions=("no-such-embedder",))
    reply = await call(http, gateway, "/v1/models/no-such-model", method="GET")
    assert_openai_error(reply, 404, code="model_not_found")
    assert len(gateway.fake.requests) == before

    with pytest.raises(openai.NotFoundError) as info:
        await gateway.client(ALICE_KEY).chat.completions.create(model="no-such-model", messages=HELLO)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        await gateway.client(ALICE_KEY).models.retrieve("no-such-model")


async def test_model_not_allowed_for_key_is_403(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    before = len(gateway.fake.requests)
    reply = await call(http, gateway, CHAT, key=LIMITED_KEY, json={"model": "tool", "messages": HELLO})
    err = assert_openai_error(reply, 403, mentions=("tool",))
    assert err["type"] == "permission_error"
    # pinning a channel does not get around the allow-list
    reply = await call(http, gateway, CHAT, key=LIMITED_KEY, json={"model": "main/tool", "messages": HELLO})
    assert_openai_error(reply, 403)
    assert len(gateway.fake.requests) == before

    with pytest.raises(openai.PermissionDeniedError):
        await gateway.client(LIMITED_KEY).chat.completions.create(model="tool", messages=HELLO)
    # the allowed model still works for that key
    ok = await gateway.client(LIMITED_KEY).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert ok.choices[0].message.content == "Hello! You said: hi"


# --------------------------------------------------------------------------------------------------------
# 5 and 8. upstream failures


def _assert_no_upstream_key(reply: Reply, rows: list[Any]) -> None:
    for secret in (DEFAULT_API_KEY, DEAD_UPSTREAM_KEY):
        assert secret not in reply.text, reply.text
        for name, value in reply.headers.items():
            assert secret not in value, (name, value)
        for row in rows:
            assert secret not in (row["error"] or ""), row


@pytest.mark.parametrize(
    ("model", "status", "param", "mentions"),
    [
        pytest.param("fail-500", 500, None, ("server had an error",), id="fail-500"),
        pytest.param("fail-429", 429, None, ("rate limit",), id="fail-429"),
        pytest.param("fail-400", 400, "messages", ("messages",), id="fail-400"),
        pytest.param("bad-json", 502, None, (), id="bad-json"),
        pytest.param("dead-only", 503, None, (), id="dead-only"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_upstream_failure_status_and_usage_row(
    gateway: LiveGateway,
    http: aiohttp.ClientSession,
    model: str,
    status: int,
    param: str | None,
    mentions: tuple[str, ...],
    stream: bool,
) -> None:
    """Failures before the first byte are plain JSON errors, for streamed requests too."""
    name, secret = await gateway.new_key()
    body: dict[str, Any] = {"model": model, "messages": HELLO}
    if stream:
        body["stream"] = True
    reply = await call(http, gateway, CHAT, key=secret, json=body)
    assert_openai_error(reply, status, param=param, mentions=mentions)
    if status == 429:
        assert reply.headers.get("retry-after") == "1", reply.headers
    rows = await rows_for(gateway, name)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["status"] == status, row
    assert row["model"] == model and row["error"], row
    assert bool(row["stream"]) is stream, row
    assert row["attempts"] == 1, row
    _assert_no_upstream_key(reply, rows)


async def test_failed_request_is_metered_once_when_flushes_overlap(gateway: LiveGateway) -> None:
    """Two flushes of the usage writer running at once (the background task and an explicit
    flush, as admin/usage reads do) must not write the same pending row twice."""
    name, _ = await gateway.new_key()
    writer = gateway.state.usage
    writer.record(
        UsageRow(request_id="overlap-" + name, endpoint="chat", status=503, stream=False, key_name=name)
    )
    await asyncio.gather(writer.flush(), writer.flush())
    rows = await gateway.usage_rows(name)
    assert [r["request_id"] for r in rows] == ["overlap-" + name], rows


async def test_upstream_errors_through_the_sdk(gateway: LiveGateway) -> None:
    client = gateway.client(ALICE_KEY)
    with pytest.raises(openai.InternalServerError) as server_error:
        await client.chat.completions.create(model="fail-500", messages=HELLO)
    assert server_error.value.status_code == 500
    assert "server had an error" in server_error.value.message
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="fail-429", messages=HELLO)
    assert limited.value.response.headers.get("retry-after") == "1"
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="fail-400", messages=HELLO)
    assert bad.value.param == "messages"


async def test_upstream_key_leak_is_scrubbed(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    name, secret = await gateway.new_key()
    reply = await call(http, gateway, CHAT, key=secret, json={"model": "leak-key", "messages": HELLO})
    # The upstream refused the gateway's key: the operator's problem, so 503, never the 401
    # that would tell the caller their own key is wrong.
    assert reply.status == 503, reply.text
    assert_openai_error(reply, 503)
    assert reply.json["error"]["code"] == "upstream_auth_failed"
    assert "HTTP 401" in reply.json["error"]["message"]
    rows = await rows_for(gateway, name)
    assert len(rows) == 1 and rows[0]["status"] == reply.status, rows
    _assert_no_upstream_key(reply, rows)
    # nor any recognisable piece of it
    assert "upstream-test" not in reply.text

    with pytest.raises(openai.APIStatusError) as info:
        await gateway.client(ALICE_KEY).chat.completions.create(model="leak-key", messages=HELLO)
    assert DEFAULT_API_KEY not in str(info.value)
    assert DEFAULT_API_KEY not in info.value.response.text


async def test_slow_upstream_is_504_at_the_channel_timeout(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    name, secret = await gateway.new_key()
    started = time.monotonic()
    reply = await call(http, gateway, CHAT, key=secret, json={"model": "slow", "messages": HELLO})
    took = time.monotonic() - started
    assert_openai_error(reply, 504)
    assert took < 2.0, f"a channel with timeout_s 0.5 took {took:.2f}s to give up"
    rows = await rows_for(gateway, name)
    assert len(rows) == 1 and rows[0]["status"] == 504, rows
    assert rows[0]["channel"] == "slowpoke", rows
    _assert_no_upstream_key(reply, rows)


async def test_slow_upstream_stream_is_504_and_upstream_dropped(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    await drain_old_disconnects(gateway)
    name, secret = await gateway.new_key()
    started = time.monotonic()
    reply = await call(
        http, gateway, CHAT, key=secret, json={"model": "slow", "messages": HELLO, "stream": True}
    )
    took = time.monotonic() - started
    assert not reply.headers.get("content-type", "").startswith("text/event-stream"), reply.headers
    assert_openai_error(reply, 504)
    assert took < 2.0, f"a channel with timeout_s 0.5 took {took:.2f}s to give up"
    # hubgate hung up on the upstream instead of leaving it working for nobody
    assert await gateway.fake.wait_for_disconnect(timeout=2.0)
    rows = await rows_for(gateway, name)
    assert len(rows) == 1 and rows[0]["status"] == 504 and rows[0]["stream"] in (True, 1), rows


async def test_stream_failing_before_first_byte_is_a_json_error(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    name, secret = await gateway.new_key()
    reply = await call(
        http, gateway, CHAT, key=secret, json={"model": "fail-500", "messages": HELLO, "stream": True}
    )
    assert not reply.headers.get("content-type", "").startswith("text/event-stream"), reply.headers
    assert_openai_error(reply, 500, mentions=("server had an error",))
    rows = await rows_for(gateway, name)
    assert len(rows) == 1 and rows[0]["status"] == 500, rows
    assert rows[0]["stream"] in (True, 1), rows
    _assert_no_upstream_key(reply, rows)

    with pytest.raises(openai.InternalServerError):
        await gateway.client(secret).chat.completions.create(model="fail-500", messages=HELLO, stream=True)

    reply = await call(
        http, gateway, CHAT, key=secret, json={"model": "leak-key", "messages": HELLO, "stream": True}
    )
    assert reply.status >= 400 and not reply.headers.get("content-type", "").startswith("text/event-stream")
    _assert_no_upstream_key(reply, [])


# --------------------------------------------------------------------------------------------------------
# 6. the caller hanging up mid-stream cancels the upstream request


async def test_client_disconnect_mid_stream_sdk(gateway: LiveGateway) -> None:
    await drain_old_disconnects(gateway)
    completed = gateway.fake.stream_completed
    name, secret = await gateway.new_key()
    client = gateway.client(secret)
    stream = await client.chat.completions.create(model="slow-stream", messages=HELLO, stream=True)
    first = ""
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = chunk.choices[0].delta.content
            break
    assert first == "Hello!"
    await stream.close()
    await client.close()
    assert await gateway.fake.wait_for_disconnect(timeout=3.0), "hubgate kept the upstream stream open"
    assert gateway.fake.stream_completed == completed
    rows = await rows_for(gateway, name)
    assert len(rows) == 1 and rows[0]["status"] == 499, rows
    assert rows[0]["stream"] in (True, 1), rows


async def test_client_disconnect_mid_stream_raw(gateway: LiveGateway) -> None:
    await drain_old_disconnects(gateway)
    name, secret = await gateway.new_key()
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            gateway.url + CHAT,
            json={"model": "slow-stream", "messages": HELLO, "stream": True},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers.get("x-request-id")
        seen = b""
        async for chunk in resp.content.iter_any():
            seen += chunk
            if b"Hello!" in seen:
                break
        assert b"Hello!" in seen
        hung_up = time.monotonic()
        resp.close()
        assert await gateway.fake.wait_for_disconnect(timeout=3.0), "hubgate kept the upstream stream open"
        assert time.monotonic() - hung_up < 2.0
    rows = await rows_for(gateway, name)
    assert len(rows) == 1 and rows[0]["status"] == 499, rows


# --------------------------------------------------------------------------------------------------------
# 7. routing and health


@pytest.mark.parametrize("path", ["/v1/nope", "/api/v1/nope", "/nope"])
async def test_unknown_path_is_openai_404(
    gateway: LiveGateway, http: aiohttp.ClientSession, path: str
) -> None:
    reply = await call(http, gateway, path, json={"model": "gpt-4o-mini", "messages": HELLO})
    assert_openai_error(reply, 404, mentions=(path,))
    reply = await call(http, gateway, path, method="GET")
    assert_openai_error(reply, 404)


async def test_wrong_method_is_405(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    reply = await call(http, gateway, CHAT, method="GET")
    assert_openai_error(reply, 405, mentions=("GET",))
    assert reply.headers["allow"] == "POST"
    reply = await call(http, gateway, "/api" + CHAT, method="GET")
    assert_openai_error(reply, 405)


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_health_endpoints(gateway: LiveGateway, http: aiohttp.ClientSession, prefix: str) -> None:
    reply = await call(http, gateway, f"{prefix}/healthz", method="GET", key=None)
    assert reply.status == 200, reply.text
    assert reply.headers.get("x-request-id")
    reply = await call(http, gateway, f"{prefix}/readyz", method="GET", key=None)
    assert reply.status == 200, reply.text
    assert reply.headers.get("x-request-id")
    assert reply.json["database"] == "ok", reply.json
