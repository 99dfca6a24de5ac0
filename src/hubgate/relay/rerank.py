"""Rerank on the relay: Cohere v2 and Cohere v1 / Jina callers, to Cohere, Jina and
vLLM-style channels. Same shape: the body passes with only the model changed and the
answer's bytes come back as they are. Different shapes: through formats/rerank.py.

Metering: Cohere reports search units (`meta.billed_units.search_units`), billed at
the model's `per_request` price once per unit; Jina and vLLM report
`usage.total_tokens`, billed as prompt tokens at the `input` price.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from hubgate.formats import rerank as rr
from hubgate.providers import provider_for
from hubgate.providers.base import Endpoint
from hubgate.providers.channel import Channel
from hubgate.relay.call import Attempt, Call, RerankCall
from hubgate.storage.usage import UsageRow


def upstream_shape(channel: Channel) -> rr.Shape:
    return provider_for(channel.type).rerank_shape


def check_channels(call: Call, channels: Iterable[Channel]) -> None:
    """Refuse (400) a body that some rerank channel of its model would have to translate
    but cannot: checked before any channel is tried, so every attempt can take it."""
    rc = _rerank(call)
    for channel in channels:
        provider = provider_for(channel.type)
        if Endpoint.RERANK in provider.endpoints and upstream_shape(channel) is not rc.caller:
            rr.check_translatable(rc.request, call.body, rc.caller)
            return


def _rerank(call: Call) -> RerankCall:
    if call.rerank is None:
        raise TypeError("a rerank call without its rerank request")
    return call.rerank


def upstream_body(call: Call, attempt: Attempt) -> bytes:
    rc = _rerank(call)
    upstream = upstream_shape(attempt.channel)
    if upstream is rc.caller:
        return orjson.dumps(dict(call.body, model=attempt.upstream_model))
    return orjson.dumps(rr.encode_request(rc.request, upstream, attempt.upstream_model, rc.caller))


def answer(call: Call, attempt: Attempt, obj: dict[str, Any], row: UsageRow) -> dict[str, Any]:
    """The caller's answer (`obj` itself when the shapes match), its usage metered onto `row`.
    Raises ValueError when the upstream's answer is not a valid rerank answer."""
    rc = _rerank(call)
    parsed = rr.decode_response(obj, len(rc.request.documents))
    row.units = parsed.search_units  # billed at per_request each (billing.py)
    row.unit = "search_unit" if row.units else None
    row.prompt_tokens = parsed.tokens
    if upstream_shape(attempt.channel) is rc.caller:
        return obj
    return rr.encode_response(parsed, rc.caller, rc.request, call.model)
