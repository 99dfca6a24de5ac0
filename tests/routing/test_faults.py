"""Upstream faults end to end: a live gateway in front of the fault-injecting fake (SPEC §5).

Each public model `fb-<fault>` is served first by a `faulty*` channel (priority 10, on
:class:`FakeFaulty`) and then by the `fallback` channel (the healthy fake OpenAI); `solo-<fault>`
only by the faulty one, to see the final error. Which faulty channel depends on the timer the fault
is about (see :data:`TIMERS`). The contract checked here:

* a fault before the first byte reached the caller (slow first byte, reset, 5xx, 429, headers
  then nothing) is retried on the next channel: the caller gets the fallback's answer, the
  usage row shows 2 attempts and the fallback channel; with no fallback the caller gets the
  right status in its own error shape (504 timeout, 503 unreachable, the upstream's 5xx/429
  with its message, and its Retry-After);
* 400/422 from the upstream are the request's fault: not retried;
* once bytes reached the caller there is no retry: the stream ends with an error event
  (502 broken, 504 timed out) and the fallback is never asked;
* every request is logged exactly once and billed once: a failover bills only the attempt
  that answered, a stream cut mid-way bills what was delivered (estimated), an error the
  caller got instead of an answer bills nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
from sqlalchemy import select

from hubgate.metering.tokenizer import count_tokens_sync
from hubgate.settings import parse_settings
from hubgate.storage.tables import api_keys
from tests.conftest import LiveGateway, _serve
from tests.fakes.faulty_upstream import (
    FAULTY_API_KEY,
    PROMPT_TOKENS,
    REPLY,
    FakeFaulty,
    chunk_text,
    error_message,
    parse_fault,
)
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

HELLO: Any = [{"role": "user", "content": "hi there"}]
FALLBACK_REPLY = "Hello! You said: hi there"  # what the fake OpenAI answers to HELLO
PRICE = {"input": 1000, "output": 2000}  # USD per 1M tokens: 1000 / 2000 micro-dollars a token
# Timers and a loaded machine. The gateway, the fakes and the test share one event loop; when the
# loop stalls (2 busy cores), every timer that fell due meanwhile fires in the same turn, before
# the coroutines that would have answered in time. So a fault must only ever race the timer it is
# about: each faulty channel arms short just the timers its faults test, every other timer is
# SLACK_S, and the fake's slow parts are a clear multiple of the short timer (its fast parts are
# immediate). Data already sent always wins over a timer (asyncio reads sockets before it runs
# due timers), so what is left to a stall is the few turns in which the fake answers at all.
TICK_S = 0.3  # the short timers where a stall could only give the same outcome earlier
IDLE_S = 1.0  # the idle timer of `stall`, which the fake's headers and first chunks must beat
CAP_S = 0.8  # a whole stream, for `drip`
SLACK_S = 5.0  # "never" within a test: far past any stall, well inside the client's 10 s
SLOW_MS = round(TICK_S * 1000 * 7)  # a first byte this late is always past TICK_S
DRIP_MS = round(CAP_S * 1000 / 16)  # 16 chunks before the cap; the idle timer is SLACK_S
TIMERS: dict[str, dict[str, float]] = {
    # no timer under test (resets, statuses, bad bodies, `ok`): nothing can turn them into timeouts
    "faulty": {"timeout_s": SLACK_S},
    # every timer short; whichever fires first, nothing reached the caller yet: the same 504 or
    # failover (but timeout_s caps connect too: a connect stalled past it is a 503, the one turn
    # of exposure left here, to the `solo-` variants)
    "faulty-short": {"timeout_s": TICK_S * 1.5, "first_byte_timeout_s": TICK_S, "idle_timeout_s": TICK_S},
    # the idle timer between chunks, after two chunks went out
    "faulty-idle": {"timeout_s": SLACK_S, "idle_timeout_s": IDLE_S},
    # the whole stream's cap, on a stream that keeps dripping (far inside the idle timer)
    "faulty-capped": {"timeout_s": SLACK_S, "stream_timeout_s": CAP_S},
}


def channel_for(model: str) -> str:
    """The faulty channel (in :data:`TIMERS`) that serves an upstream fault model."""
    fault = parse_fault(model)
    if fault is None:
        return "faulty"
    if fault.kind == "first-byte" or (fault.kind == "stall-after" and fault.n == 0):
        return "faulty-short"
    return {"stall-after": "faulty-idle", "drip": "faulty-capped"}.get(fault.kind, "faulty")


# Faults before the first byte reaches the caller: public suffix -> (upstream model, status
# the caller gets when there is no other channel).
BEFORE_FIRST_BYTE: dict[str, tuple[str, int]] = {
    "first-byte": (f"first-byte-{SLOW_MS}", 504),
    "reset-before": ("reset-before", 503),
    "500": ("status-500", 500),
    "502": ("status-502", 502),
    "503": ("status-503", 503),
    "429": ("status-429", 429),
    "429-retry": ("status-429-retry-7", 429),
    # 200 and headers, then silence / a reset before any event: nothing reached the caller yet
    "headers-stall": ("stall-after-0", 504),
    "headers-reset": ("reset-during-0", 503),
}
# The request's own fault: never retried.
NOT_RETRIED: dict[str, tuple[str, int]] = {"400": ("status-400", 400), "422": ("status-422", 422)}
# Streams broken after content reached the caller: -> (upstream model, the row's status).
AFTER_FIRST_BYTE: dict[str, tuple[str, int]] = {
    "stall": ("stall-after-2", 504),
    "reset-during": ("reset-during-2", 502),
    "drip": (f"drip-{DRIP_MS}", 504),  # past stream_timeout_s
    "bad-sse": ("bad-sse", 502),
}
OTHERS: dict[str, tuple[str, int]] = {"bad-json": ("bad-json", 502), "ok": ("ok", 200)}
ALL_FAULTS = {**BEFORE_FIRST_BYTE, **NOT_RETRIED, **AFTER_FIRST_BYTE, **OTHERS}


def upstream(public: str) -> str:
    """The model name the faulty channel sends for a public `fb-x` / `solo-x` (tagged apart)."""
    kind, _, fault = public.partition("-")
    return f"{ALL_FAULTS[fault][0]}~{kind}"


@dataclass
class FaultGateway(LiveGateway):
    faulty: FakeFaulty


@pytest.fixture(scope="session")
async def faulty() -> AsyncIterator[FakeFaulty]:
    async with FakeFaulty() as fake:
        yield fake


def _config(
    database_url: str, faulty: FakeFaulty, fallback: FakeOpenAI, *, prefix: str, faults: dict[str, str],
    fallback_for: list[str], cooldown_after_failures: int,
) -> dict[str, Any]:  # fmt: skip
    """A gateway whose faulty channels (priority 10, see :func:`channel_for`) map public `faults`
    to fault models; `fallback_for` are also served by the healthy fake."""
    public = [*faults, *fallback_for]
    by_channel: dict[str, dict[str, str]] = {}
    for name, model in faults.items():
        by_channel.setdefault(channel_for(model), {})[name] = model
    faulty_channels = [
        {"name": prefix + channel, "type": "openai", "base_url": faulty.base_url, "api_key": FAULTY_API_KEY,
         "models": list(mapped), "model_map": mapped, "priority": 10, **TIMERS[channel]}
        for channel, mapped in by_channel.items()
    ]  # fmt: skip
    return {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": cooldown_after_failures,
        "cooldown_base_s": 60,
        "channels": [
            *faulty_channels,
            {"name": f"{prefix}fallback", "type": "openai", "base_url": fallback.base_url,
             "api_key": DEFAULT_API_KEY, "models": fallback_for,
             "model_map": dict.fromkeys(fallback_for, "gpt-4o-mini")},
        ],
        "pricing": {"gpt-4o-mini": PRICE, **dict.fromkeys(public, PRICE)},
    }  # fmt: skip


@pytest.fixture(scope="session")
async def gw(database_url: str, faulty: FakeFaulty, fake_openai: FakeOpenAI) -> AsyncIterator[FaultGateway]:
    """Cooldowns off: the same faults are hit again and again on purpose."""
    public = [f"{kind}-{name}" for name in ALL_FAULTS for kind in ("fb", "solo")]
    faults = {p: upstream(p) for p in public}
    config = _config(
        database_url, faulty, fake_openai, prefix="", faults=faults,
        fallback_for=[p for p in faults if p.startswith("fb-")], cooldown_after_failures=0,
    )  # fmt: skip
    settings = parse_settings(config, env={})
    runner, app, url = await _serve(settings)
    try:
        yield FaultGateway(url=url, app=app, settings=settings, fake=fake_openai, faulty=faulty)
    finally:
        await runner.cleanup()


@pytest.fixture(scope="session")
async def cd_gw(
    database_url: str, faulty: FakeFaulty, fake_openai: FakeOpenAI
) -> AsyncIterator[FaultGateway]:
    """Cooldowns on: two consecutive failures (or one 429) take a target out for 60 s."""
    faults = {
        "cd-500": "status-500~cd",
        "cd-stream": "reset-during-2~cd",
        "cd-429": "status-429-retry-30~cd",
        "cd-first-byte": f"first-byte-{SLOW_MS}~cd",
        "cd-headers-reset": "reset-during-0~cd",
        "cd-solo": "reset-before~cd",
    }
    config = _config(
        database_url, faulty, fake_openai, prefix="cd-", faults=faults,
        fallback_for=["cd-500", "cd-stream", "cd-429", "cd-first-byte", "cd-headers-reset"],
        cooldown_after_failures=2,
    )  # fmt: skip
    settings = parse_settings(config, env={})
    runner, app, url = await _serve(settings)
    try:
        yield FaultGateway(url=url, app=app, settings=settings, fake=fake_openai, faulty=faulty)
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------------------------------------
# helpers


@dataclass
class Answer:
    text: str
    usage: Any


async def _ask(gw: LiveGateway, secret: str, model: str, *, stream: bool) -> Answer:
    async with gw.client(secret, timeout=10) as client:
        if not stream:
            reply = await client.chat.completions.create(model=model, messages=HELLO)
            return Answer(reply.choices[0].message.content or "", reply.usage)
        chunks = await client.chat.completions.create(
            model=model, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        answer = Answer("", None)
        async for chunk in chunks:
            if chunk.choices:
                answer.text += chunk.choices[0].delta.content or ""
            if chunk.usage is not None:
                answer.usage = chunk.usage
        return answer


async def _rows(gw: LiveGateway, key_name: str, count: int = 1) -> list[dict[str, Any]]:
    """The key's usage rows once `count` are in, checking no more land (logged exactly once)."""
    deadline = time.monotonic() + 5
    while len(rows := await gw.usage_rows(key_name)) < count:
        assert time.monotonic() < deadline, f"{len(rows)} usage rows for {key_name}, expected {count}"
        await asyncio.sleep(0.02)
    # Estimates are recorded off the request path: let them finish, then count again.
    await asyncio.gather(*list(gw.state.background), return_exceptions=True)
    rows = await gw.usage_rows(key_name)
    assert len(rows) == count, _brief(*rows)
    assert len({r["request_id"] for r in rows}) == count, _brief(*rows)
    return rows


_BRIEF = ("status", "attempts", "channel", "upstream_model", "prompt_tokens", "completion_tokens",
          "cost_micros", "estimated", "error")  # fmt: skip


def _brief(*rows: dict[str, Any]) -> str:
    """Usage rows, the fields that matter here, for assertion messages (pytest truncates dicts)."""
    return "; ".join(str({k: r[k] for k in _BRIEF}) for r in rows)


async def _spent(gw: LiveGateway, key_name: str) -> int:
    await gw.state.usage.flush()
    async with gw.state.engine.connect() as conn:
        result = await conn.execute(select(api_keys.c.spent_micros).where(api_keys.c.name == key_name))
        return int(result.scalar_one())


async def _assert_billed_once(gw: LiveGateway, key_name: str, rows: list[dict[str, Any]]) -> None:
    """The key was charged exactly what its rows cost, each at the configured price."""
    for row in rows:
        expected = row["prompt_tokens"] * 1000 + row["completion_tokens"] * 2000
        assert row["cost_micros"] == expected, _brief(row)
    assert await _spent(gw, key_name) == sum(r["cost_micros"] for r in rows)


def _assert_unbilled_error(row: dict[str, Any], status: int) -> None:
    """The caller got an error instead of an answer: logged with the error, billed nothing."""
    assert row["status"] == status and row["error"], _brief(row)
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_micros"]) == (0, 0, 0), _brief(row)
    assert not row["estimated"], _brief(row)


def _openai_error(err: openai.APIStatusError, status: int) -> dict[str, Any]:
    """The gateway's answer is an OpenAI-shaped error with this status; returns the inner object."""
    assert err.status_code == status, err
    assert err.response.headers.get("x-request-id"), err.response.headers
    body = err.response.json()
    assert set(body) == {"error"} and {"message", "type", "code", "param"} <= set(body["error"]), body
    inner: dict[str, Any] = body["error"]
    assert isinstance(inner["message"], str) and inner["message"] and inner["type"], body
    return inner


class Hits:
    """How many times each fake was asked since the start of a test."""

    def __init__(self, gw: FaultGateway, model: str) -> None:
        self._gw, self.model = gw, model
        self._faulty = gw.faulty.hits[model]
        self._fallback = len(gw.fake.requests)

    @property
    def faulty(self) -> int:
        return self._gw.faulty.hits[self.model] - self._faulty

    @property
    def fallback(self) -> int:
        return len(self._gw.fake.requests) - self._fallback


# --------------------------------------------------------------------------------------------------------
# 1. before the first byte: retried on the next channel; without one, the right error


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fault", list(BEFORE_FIRST_BYTE))
async def test_fault_before_first_byte_fails_over(gw: FaultGateway, fault: str, stream: bool) -> None:
    name, secret = await gw.new_key()
    hits = Hits(gw, upstream(f"fb-{fault}"))
    answer = await _ask(gw, secret, f"fb-{fault}", stream=stream)
    assert answer.text == FALLBACK_REPLY
    assert (hits.faulty, hits.fallback) == (1, 1)
    (row,) = await _rows(gw, name)
    assert (row["status"], row["attempts"], row["channel"]) == (200, 2, "fallback"), _brief(row)
    assert row["upstream_model"] == "gpt-4o-mini" and not row["error"], _brief(row)
    # Only the attempt that answered is billed, from the usage it reported.
    assert answer.usage is not None
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    ), _brief(row)
    assert row["cost_micros"] > 0 and not row["estimated"], _brief(row)
    await _assert_billed_once(gw, name, [row])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fault", list(BEFORE_FIRST_BYTE))
async def test_fault_before_first_byte_without_fallback(gw: FaultGateway, fault: str, stream: bool) -> None:
    name, secret = await gw.new_key()
    hits = Hits(gw, upstream(f"solo-{fault}"))
    status = BEFORE_FIRST_BYTE[fault][1]
    with pytest.raises(openai.APIStatusError) as info:
        await _ask(gw, secret, f"solo-{fault}", stream=stream)
    err = _openai_error(info.value, status)
    assert not info.value.response.headers.get("content-type", "").startswith("text/event-stream")
    if BEFORE_FIRST_BYTE[fault][0].startswith("status-"):  # the upstream's status and message
        assert err["message"] == error_message(status), err
    elif status == 504:
        assert err["code"] == "upstream_timeout" and "in time" in err["message"], err
    else:
        assert err["code"] == "no_channel_available" and "could not be reached" in err["message"], err
        assert "127.0.0.1" not in err["message"] and "Cannot connect" not in err["message"], err
    if fault == "429-retry":
        assert info.value.response.headers.get("retry-after") == "7", info.value.response.headers
    assert hits.faulty == 1  # one channel, one key: tried once
    (row,) = await _rows(gw, name)
    assert (row["attempts"], row["channel"]) == (1, channel_for(hits.model)), _brief(row)
    assert bool(row["stream"]) is stream, _brief(row)
    _assert_unbilled_error(row, status)
    await _assert_billed_once(gw, name, [row])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fault", list(NOT_RETRIED))
async def test_request_errors_are_not_retried(gw: FaultGateway, fault: str, stream: bool) -> None:
    name, secret = await gw.new_key()
    hits = Hits(gw, upstream(f"fb-{fault}"))
    status = NOT_RETRIED[fault][1]
    with pytest.raises(openai.APIStatusError) as info:
        await _ask(gw, secret, f"fb-{fault}", stream=stream)
    err = _openai_error(info.value, status)
    assert err["message"] == error_message(status), err
    assert err["type"] == "invalid_request_error", err
    if status == 400:
        assert isinstance(info.value, openai.BadRequestError) and err["param"] == "messages", err
    assert (hits.faulty, hits.fallback) == (1, 0)  # the fallback is never asked
    (row,) = await _rows(gw, name)
    assert (row["attempts"], row["channel"]) == (1, channel_for(hits.model)), _brief(row)
    _assert_unbilled_error(row, status)
    await _assert_billed_once(gw, name, [row])


# --------------------------------------------------------------------------------------------------------
# 2. after the first byte: no retry, the stream ends with an error event, billed once (estimated)


@pytest.mark.parametrize("fault", list(AFTER_FIRST_BYTE))
async def test_fault_after_first_byte_ends_the_stream_with_an_error(gw: FaultGateway, fault: str) -> None:
    name, secret = await gw.new_key()
    model = upstream(f"fb-{fault}")
    hits = Hits(gw, model)
    disconnects = gw.faulty.disconnects[model]
    status = AFTER_FIRST_BYTE[fault][1]
    seen = ""
    started = time.monotonic()
    async with gw.client(secret, timeout=10) as client:
        chunks = await client.chat.completions.create(
            model=f"fb-{fault}", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        with pytest.raises((openai.APIError, ValueError)) as info:
            async for chunk in chunks:
                if chunk.choices:
                    seen += chunk.choices[0].delta.content or ""
    took = time.monotonic() - started
    # An error event the SDK raises as APIError, not something the SDK cannot even parse.
    assert isinstance(info.value, openai.APIError), (
        f"the caller's stream did not end in an error event: {info.value!r}"
    )
    if fault != "bad-sse":
        assert "interrupted" in info.value.message, info.value
        assert ("timeout" in info.value.message) is (status == 504), info.value
    assert seen.startswith(chunk_text(0) + chunk_text(1)), seen
    if fault == "drip":
        assert CAP_S < took < SLACK_S, f"a stream capped at {CAP_S} s ran {took:.2f} s"
        assert len(seen.split()) >= 5, seen
    assert (hits.faulty, hits.fallback) == (1, 0)  # bytes were out: no retry
    if fault in ("stall", "drip"):  # and hubgate hung up on the upstream
        assert await gw.faulty.wait_for_disconnect(model, disconnects + 1)
    (row,) = await _rows(gw, name)
    assert (row["status"], row["attempts"], row["channel"]) == (status, 1, channel_for(model)), _brief(row)
    assert row["error"] and bool(row["stream"]), _brief(row)
    # No usage arrived: billed once, for the prompt and what was delivered, marked estimated.
    assert row["estimated"] is True, _brief(row)
    assert row["completion_tokens"] == count_tokens_sync(seen, row["upstream_model"]) > 0, _brief(row)
    assert row["prompt_tokens"] > 0 and row["cost_micros"] > 0, _brief(row)
    await _assert_billed_once(gw, name, [row])


# --------------------------------------------------------------------------------------------------------
# 3. malformed JSON, and a healthy answer for reference


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_malformed_json_is_retried_then_502(gw: FaultGateway, stream: bool) -> None:
    """The upstream said 200 and sent a body that is not JSON. Nothing reached the caller,
    so the next channel is tried; with no other channel the caller gets 502."""
    name, secret = await gw.new_key()
    hits = Hits(gw, upstream("fb-bad-json"))
    answer = await _ask(gw, secret, "fb-bad-json", stream=stream)
    assert answer.text == FALLBACK_REPLY
    assert (hits.faulty, hits.fallback) == (1, 1)
    (row,) = await _rows(gw, name)
    assert (row["status"], row["attempts"], row["channel"]) == (200, 2, "fallback"), _brief(row)
    await _assert_billed_once(gw, name, [row])
    solo_name, solo_secret = await gw.new_key()
    with pytest.raises(openai.APIStatusError) as info:
        await _ask(gw, solo_secret, "solo-bad-json", stream=stream)
    err = _openai_error(info.value, 502)
    assert err["code"] == "bad_gateway", err
    (solo,) = await _rows(gw, solo_name)
    _assert_unbilled_error(solo, 502)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_healthy_answer_is_billed_from_reported_usage(gw: FaultGateway, stream: bool) -> None:
    name, secret = await gw.new_key()
    answer = await _ask(gw, secret, "solo-ok", stream=stream)
    assert answer.text == REPLY
    (row,) = await _rows(gw, name)
    assert (row["status"], row["attempts"], row["channel"]) == (200, 1, "faulty"), _brief(row)
    reported = (PROMPT_TOKENS, len(REPLY.split()))
    assert (row["prompt_tokens"], row["completion_tokens"]) == reported, _brief(row)
    assert not row["estimated"] and not row["error"], _brief(row)
    await _assert_billed_once(gw, name, [row])


# --------------------------------------------------------------------------------------------------------
# 4. an Anthropic caller on the same OpenAI-format channels (translated both ways)


def _anthropic(gw: LiveGateway, secret: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=secret, max_retries=0, timeout=10)


async def test_anthropic_caller_mid_stream_reset_ends_with_an_error_event(gw: FaultGateway) -> None:
    name, secret = await gw.new_key()
    hits = Hits(gw, upstream("fb-reset-during"))
    seen = ""
    async with _anthropic(gw, secret) as client:
        events = await client.messages.create(
            model="fb-reset-during", max_tokens=64, messages=HELLO, stream=True
        )
        with pytest.raises(anthropic.APIStatusError) as info:
            async for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    seen += event.delta.text
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "api_error", body
    assert "interrupted" in body["error"]["message"], body
    assert seen == chunk_text(0) + chunk_text(1)
    assert (hits.faulty, hits.fallback) == (1, 0)
    (row,) = await _rows(gw, name)
    assert (row["status"], row["attempts"], row["endpoint"]) == (502, 1, "messages"), _brief(row)
    assert row["estimated"] is True, _brief(row)
    assert row["completion_tokens"] == count_tokens_sync(seen, row["upstream_model"]) > 0, _brief(row)
    await _assert_billed_once(gw, name, [row])


async def test_anthropic_caller_malformed_sse_ends_with_an_error_event(gw: FaultGateway) -> None:
    """The same `bad-sse` fault as for the OpenAI caller above, through the translating path."""
    name, secret = await gw.new_key()
    hits = Hits(gw, upstream("fb-bad-sse"))
    seen = ""
    async with _anthropic(gw, secret) as client:
        events = await client.messages.create(model="fb-bad-sse", max_tokens=64, messages=HELLO, stream=True)
        with pytest.raises(anthropic.APIStatusError) as info:
            async for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    seen += event.delta.text
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "api_error", body
    assert seen == chunk_text(0) + chunk_text(1)
    assert (hits.faulty, hits.fallback) == (1, 0)
    (row,) = await _rows(gw, name)
    assert (row["status"], row["attempts"], row["endpoint"]) == (502, 1, "messages"), _brief(row)
    assert row["estimated"] is True and row["cost_micros"] > 0, _brief(row)
    await _assert_billed_once(gw, name, [row])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_anthropic_caller_first_byte_timeout_is_504_in_anthropic_shape(
    gw: FaultGateway, stream: bool
) -> None:
    name, secret = await gw.new_key()
    async with _anthropic(gw, secret) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            await client.messages.create(
                model="solo-first-byte", max_tokens=64, messages=HELLO, stream=stream
            )
    assert info.value.status_code == 504
    assert info.value.response.headers.get("x-request-id")
    body = info.value.response.json()
    assert set(body) == {"type", "error"} and body["type"] == "error", body
    assert body["error"]["type"] == "timeout_error" and "in time" in body["error"]["message"], body
    (row,) = await _rows(gw, name)
    assert (row["attempts"], row["endpoint"]) == (1, "messages"), _brief(row)
    _assert_unbilled_error(row, 504)


async def test_anthropic_caller_fails_over_before_first_byte(gw: FaultGateway) -> None:
    name, secret = await gw.new_key()
    hits = Hits(gw, upstream("fb-first-byte"))
    async with _anthropic(gw, secret) as client:
        message = await client.messages.create(model="fb-first-byte", max_tokens=64, messages=HELLO)
    assert message.content[0].type == "text" and message.content[0].text == FALLBACK_REPLY
    assert (hits.faulty, hits.fallback) == (1, 1)
    (row,) = await _rows(gw, name)
    assert (row["status"], row["attempts"], row["channel"]) == (200, 2, "fallback"), _brief(row)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
    ), _brief(row)
    await _assert_billed_once(gw, name, [row])


# --------------------------------------------------------------------------------------------------------
# 5. with cooldowns on: repeated faults take the faulty target out of rotation


def _cooling(gw: FaultGateway, model: str) -> dict[str, Any]:
    (state,) = [s for s in gw.state.health.snapshot() if s["model"] == model]
    assert state["channel"] == "cd-" + channel_for(model) and state["state"] == "open", state
    return state


CD_UPSTREAM = {
    "cd-500": "status-500~cd",
    "cd-first-byte": f"first-byte-{SLOW_MS}~cd",
    "cd-headers-reset": "reset-during-0~cd",  # 200 and headers, then a reset before any body
}


@pytest.mark.parametrize("model", list(CD_UPSTREAM))
async def test_cooldown_opens_after_repeated_faults_before_first_byte(
    cd_gw: FaultGateway, model: str
) -> None:
    gw = cd_gw
    name, secret = await gw.new_key()
    hits = Hits(gw, CD_UPSTREAM[model])
    for _ in range(3):
        assert (await _ask(gw, secret, model, stream=False)).text == FALLBACK_REPLY
    rows = await _rows(gw, name, 3)
    assert [r["attempts"] for r in rows] == [2, 2, 1], _brief(*rows)
    assert {r["channel"] for r in rows} == {"cd-fallback"}
    assert (hits.faulty, hits.fallback) == (2, 3)  # the third request did not even try it
    assert _cooling(gw, CD_UPSTREAM[model])["cooldown_left_s"] > 50
    await _assert_billed_once(gw, name, rows)


async def test_mid_stream_faults_count_towards_the_cooldown(cd_gw: FaultGateway) -> None:
    gw = cd_gw
    name, secret = await gw.new_key()
    hits = Hits(gw, "reset-during-2~cd")
    for _ in range(2):
        with pytest.raises(openai.APIError):
            await _ask(gw, secret, "cd-stream", stream=True)
    # Two broken streams took the target out: the next stream goes straight to the fallback.
    answer = await _ask(gw, secret, "cd-stream", stream=True)
    assert answer.text == FALLBACK_REPLY
    rows = await _rows(gw, name, 3)
    assert [(r["status"], r["attempts"], r["channel"]) for r in rows] == [
        (502, 1, "cd-faulty"),
        (502, 1, "cd-faulty"),
        (200, 1, "cd-fallback"),
    ], _brief(*rows)
    assert (hits.faulty, hits.fallback) == (2, 1)
    _cooling(gw, "reset-during-2~cd")
    await _assert_billed_once(gw, name, rows)


async def test_429_retry_after_sets_the_cooldown_at_once(cd_gw: FaultGateway) -> None:
    gw = cd_gw
    name, secret = await gw.new_key()
    hits = Hits(gw, "status-429-retry-30~cd")
    for _ in range(2):
        assert (await _ask(gw, secret, "cd-429", stream=False)).text == FALLBACK_REPLY
    rows = await _rows(gw, name, 2)
    assert [r["attempts"] for r in rows] == [2, 1], _brief(*rows)
    assert (hits.faulty, hits.fallback) == (1, 2)
    assert 25 < _cooling(gw, "status-429-retry-30~cd")["cooldown_left_s"] <= 30  # Retry-After, not the base
    await _assert_billed_once(gw, name, rows)


async def test_every_channel_cooling_is_a_503(cd_gw: FaultGateway) -> None:
    gw = cd_gw
    name, secret = await gw.new_key()
    hits = Hits(gw, "reset-before~cd")
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as info:
            await _ask(gw, secret, "cd-solo", stream=False)
        assert "could not be reached" in _openai_error(info.value, 503)["message"]
    with pytest.raises(openai.APIStatusError) as info:
        await _ask(gw, secret, "cd-solo", stream=False)
    assert "cooling down" in _openai_error(info.value, 503)["message"]
    assert hits.faulty == 2  # the third request never reached the upstream
    rows = await _rows(gw, name, 3)
    for row in rows:
        _assert_unbilled_error(row, 503)
    assert [r["attempts"] for r in rows] == [1, 1, 0], _brief(*rows)
    await _assert_billed_once(gw, name, rows)
