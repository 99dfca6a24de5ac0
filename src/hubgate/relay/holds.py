"""The hold a relayed call takes before it goes upstream: its maximum cost (billing.place).

Sized from the caller's body (metering/hold.py) per family: text generation by prompt
bound plus output cap, embeddings and rerank by prompt, images by `n` (per image, or
image tokens), speech by characters, transcriptions by an upper bound of the upload's
seconds, video tasks by seconds at their size. Every channel of the route is priced and
the dearest taken, since failover may land on any of them.
"""

from __future__ import annotations

from hubgate.formats.videos import DEFAULT_SECONDS, DEFAULT_SIZE
from hubgate.gateway import Gateway
from hubgate.metering import hold
from hubgate.metering.hold import Ceiling
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call
from hubgate.relay.media import AUDIO_TEXT, IMAGES, MediaCall
from hubgate.routing.channels import Route
from hubgate.storage.accounts import AccountRecord
from hubgate.storage.keys import KeyRecord
from hubgate.storage.usage import UsageRow

_FREE = frozenset({Endpoint.COUNT_TOKENS, Endpoint.MODERATIONS})
_NO_OUTPUT = frozenset({Endpoint.EMBEDDINGS, Endpoint.RERANK})
_NOT_TEXT = _FREE | _NO_OUTPUT | IMAGES | AUDIO_TEXT | {Endpoint.AUDIO_SPEECH, Endpoint.VIDEOS}


def ceiling(call: Call) -> Ceiling | None:
    """The most the call can use; None when it is free."""
    body = call.body
    if call.endpoint not in _NOT_TEXT:  # chat, messages, responses, generateContent, completions
        return hold.tokens(body, call.raw)
    if call.endpoint in _FREE:
        return None
    if call.endpoint in _NO_OUTPUT:
        return Ceiling(
            hold.prompt_bound(body, call.raw), 0, units=1 if call.endpoint is Endpoint.RERANK else 0
        )
    if call.endpoint in IMAGES:
        count = hold.answers(body)
        return Ceiling(hold.input_bound(body), count * hold.IMAGE_OUTPUT_TOKENS, units=count, unit="image")
    if call.endpoint is Endpoint.AUDIO_SPEECH:
        text = body.get("input")
        chars = len(text) if isinstance(text, str) else 0
        return Ceiling(chars, 0, units=chars, unit="character")
    if call.endpoint in AUDIO_TEXT:
        size = (
            sum(len(p.value) for p in call.form if p.filename is not None)
            if isinstance(call, MediaCall)
            else 0
        )
        seconds = hold.audio_seconds(size)
        return Ceiling(
            hold.input_bound(body) + seconds * 50, hold.output_cap(body), units=seconds, unit="second"
        )
    return Ceiling(0, 0, units=video_seconds(call), unit="video_second")


def video_seconds(call: Call) -> int:
    raw = call.body.get("seconds", DEFAULT_SECONDS)
    return int(raw) if isinstance(raw, str | int) and str(raw).isdigit() else int(DEFAULT_SECONDS)


def size_of(gw: Gateway, call: Call, route: Route, key: KeyRecord, account: AccountRecord | None) -> int:
    """The call's hold in micro-dollars: the dearest over the route's channels."""
    if len(route.channels) == 1 and call.endpoint not in _NOT_TEXT:  # most holds: text, one channel
        body = call.body
        upstream = route.channels[0].upstream_model(route.model)
        held = gw.billing.token_hold(
            hold.prompt_bound(body, call.raw),
            hold.output_cap(body),
            key,
            account,
            upstream,
            route.model,
            call.model,
        )  # hold_size(ceiling(call), ...) without making the Ceiling
        return held if held > 0 else 0
    need = ceiling(call)
    if need is None:
        return 0
    if len(route.channels) == 1 and call.endpoint is not Endpoint.VIDEOS:  # most routes: one channel
        upstream = route.channels[0].upstream_model(route.model)
        return max(0, gw.billing.hold_size(need, key, account, upstream, route.model, call.model))
    sizes = [0]
    for channel in route.channels:
        upstream = channel.upstream_model(route.model)
        if call.endpoint is Endpoint.VIDEOS:
            size = call.body.get("size")
            price = gw.billing.video_price(
                size if isinstance(size, str) else DEFAULT_SIZE, upstream, route.model
            )
            if price is not None:
                sizes.append(gw.billing.hold_size(need, key, account, upstream, price=price))
            continue
        sizes.append(gw.billing.hold_size(need, key, account, upstream, route.model, call.model))
    return max(sizes)


async def place(
    gw: Gateway, call: Call, route: Route, key: KeyRecord, account: AccountRecord | None, row: UsageRow
) -> None:
    """Hold the call's maximum cost under its request id; 402 when it cannot be covered.
    A video task's hold lasts as long as the task may run (relay/videos.py carries it over)."""
    subjects = gw.billing.subjects(key, account)
    if not subjects:
        call.raw = None  # the body's bytes are only read to size a hold: not kept meanwhile
        return  # no budget, no balance limit: nothing to size
    ttl = (
        gw.settings.video_task_timeout_s + gw.billing.hold_ttl_s if call.endpoint is Endpoint.VIDEOS else None
    )
    size = size_of(gw, call, route, key, account)
    call.raw = None
    await gw.billing.place(row.request_id, key, account, size, ttl_s=ttl, subjects=subjects)
