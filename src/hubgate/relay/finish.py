"""The end of one metered answer, run once: charge, record (the journal first), metrics,
and the rate limiter's share.

Streams call it just before their final frame (OpenAI's `data: [DONE]`, Anthropic's
`message_stop`, a Responses `response.completed`, or the end of the body), so the usage
record is in the journal before the caller can see the answer complete; JSON answers
run it in `relay()`'s `finally`, before aiohttp sends the body. Whichever comes first
wins; the other is a no-op.

When the upstream reported no usage the count is CPU work done off the request's path:
a provisional record (a rough estimate from characters, priced) is journaled now and
the estimated one, recorded when the count is done, replaces it (replay keeps the last
record per request id). Only the estimated one reaches the database, unless the process
dies in between: then the provisional one does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any

import orjson

from hubgate.errors import GatewayError
from hubgate.formats.registry import WireFormat, stream_decoder
from hubgate.formats.sse import EventSplitter, parse_event
from hubgate.gateway import Gateway
from hubgate.metering.tokenizer import count_tokens
from hubgate.metering.usage import estimate_prompt_tokens, estimate_usage
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call, meter
from hubgate.routing.limits import Admission
from hubgate.storage.accounts import AccountRecord
from hubgate.storage.keys import KeyRecord
from hubgate.storage.usage import UsageRow

log = logging.getLogger("hubgate.relay")

CHARS_PER_TOKEN = 4  # the provisional record's rough count


@dataclass(eq=False)
class Finish:
    """One request's end-of-answer step; the relay fills in what it learns as it goes."""

    gw: Gateway
    row: UsageRow
    started: float
    key: KeyRecord | None = None
    account: AccountRecord | None = None
    call: Call | None = None
    admission: Admission | None = None
    done: bool = False

    async def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        gw, row, key = self.gw, self.row, self.key
        row.latency_ms = int((time.perf_counter() - self.started) * 1000)
        if key is None:  # unauthenticated noise is not metered
            return
        call = self.call
        if call is not None and needs_estimate(call, row):
            gw.usage.provisional(provisional(gw, row, key, self.account, call))
            background(gw, _estimate_then_record(gw, row, key, self.account, call, self.admission))
        else:
            _book(gw, row, key, self.account)
            if self.admission is not None:
                tokens = row.prompt_tokens + row.completion_tokens
                if gw.limiter.store.local:  # in-process counters: done at once, no task needed
                    _limiter_finish(gw, key, self.admission, tokens)
                else:  # Redis: a round trip the answer need not wait for
                    background(gw, gw.limiter.finish(key, self.admission, tokens))
        if gw.usage.fsync_each:  # fsync `always`: the record survives a power cut first
            await gw.usage.durable()


_ESTIMATED_ENDPOINTS = (Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.GENERATE)


def needs_estimate(call: Call, row: UsageRow) -> bool:
    """An upstream answered (fully or in part) but reported no usage."""
    return (
        call.reached
        and call.endpoint in _ESTIMATED_ENDPOINTS
        and row.prompt_tokens == 0
        and row.completion_tokens == 0
    )


def provisional(
    gw: Gateway, row: UsageRow, key: KeyRecord, account: AccountRecord | None, call: Call
) -> UsageRow:
    """A copy of the row with a rough count (characters / 4, raw events at a third) and its price."""
    rough = replace(
        row, estimated=True, account_id=gw.billing.account_id(key) if account is None else account.id
    )
    try:
        delivered = sum(map(len, call.delivered.text)) + sum(map(len, call.delivered.reasoning))
        delivered += sum(map(len, call.raw_events)) // 3
        rough.prompt_tokens = len(orjson.dumps(call.body)) // CHARS_PER_TOKEN
        rough.completion_tokens = delivered // CHARS_PER_TOKEN
        rough.cost_micros = gw.billing.quote(rough, key, account)
    except Exception:  # the answer must end, whatever this rough count meets
        log.exception("provisional usage count failed for request %s", row.request_id)
    return rough


def _limiter_finish(gw: Gateway, key: KeyRecord, admission: Admission, tokens: int) -> None:
    try:
        gw.limiter.finish_now(admission, tokens)
    except Exception:  # never the answer's failure
        log.exception("rate limiter: could not give back request %s's share", key.name)


def background(gw: Gateway, work: Coroutine[Any, Any, None]) -> None:
    """Book-keeping after the answer: tracked so a graceful shutdown waits for it."""
    task = asyncio.create_task(work)
    gw.background.add(task)
    task.add_done_callback(gw.background.discard)


async def _estimate_then_record(
    gw: Gateway,
    row: UsageRow,
    key: KeyRecord,
    account: AccountRecord | None,
    call: Call,
    admission: Admission | None,
) -> None:
    try:
        if call.raw_events:  # the OpenAI fast path kept what it forwarded
            decoder = stream_decoder(WireFormat.OPENAI_CHAT)
            for raw in call.raw_events:  # each the complete events of one network chunk
                for one in EventSplitter.split(raw):
                    event = parse_event(one)
                    if event is not None:
                        for ev in decoder.feed(event):
                            call.delivered.add(ev)
        try:
            prompt = await estimate_prompt_tokens(call.hub_request(), row.upstream_model)
        except GatewayError:  # e.g. legacy completions, which have no hub form
            prompt = await count_tokens(_body_text(call.body), row.upstream_model)
        meter(row, await estimate_usage(prompt, call.delivered, model=row.upstream_model))
        row.estimated = True
    except Exception:
        log.exception("usage estimate failed for request %s", row.request_id)
    finally:
        _book(gw, row, key, account)
        if admission is not None:
            await gw.limiter.finish(key, admission, row.prompt_tokens + row.completion_tokens)


def _book(gw: Gateway, row: UsageRow, key: KeyRecord, account: AccountRecord | None) -> None:
    """Price the row (settling its hold), record it (the journal first) and count it."""
    gw.billing.charge(row, key, account)
    gw.usage.record(row)
    gw.metrics.observe(row)


def _body_text(body: dict[str, Any]) -> str:
    """Every string in a request body except its model name: a fallback for counting."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                if k != "model":
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(body)
    return "\n".join(out)
