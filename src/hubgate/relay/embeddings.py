"""Embeddings on the relay: OpenAI and Gemini callers, OpenAI-family and Gemini channels."""

from __future__ import annotations

from typing import Any

import orjson

from hubgate.formats import embeddings as emb
from hubgate.formats import openai as oa
from hubgate.formats.hub import Usage
from hubgate.formats.registry import WireFormat
from hubgate.relay.call import Attempt, Call, GeminiCall


def family(fmt: WireFormat) -> str:
    """Embeddings only care whether a side speaks OpenAI or Gemini."""
    return "gemini" if fmt is WireFormat.GEMINI else "openai"


def upstream_body(call: Call, attempt: Attempt) -> bytes:
    caller, upstream = family(call.fmt), family(attempt.wire)
    model = attempt.upstream_model
    if caller == upstream == "openai":
        return orjson.dumps(dict(call.body, model=model))
    if caller == upstream == "gemini":
        return orjson.dumps(emb.gemini_batch_for_upstream(call.body, model))
    if caller == "openai":
        return orjson.dumps(emb.openai_to_gemini_batch(call.body, model))
    return orjson.dumps(emb.gemini_batch_to_openai(call.body, model))


def answer(call: Call, attempt: Attempt, obj: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    """The caller's answer and the usage to meter, from the upstream's answer."""
    caller, upstream = family(call.fmt), family(attempt.wire)
    if upstream == "openai":
        usage = oa.parse_usage(obj.get("usage"))
        if caller == "gemini":
            obj = emb.openai_answer_to_gemini_batch(obj)
    else:
        texts = emb.check_gemini_batch(call.body) if caller == "gemini" else emb.openai_input_texts(call.body)
        tokens = emb.estimate_tokens(texts)
        usage = Usage(prompt_tokens=tokens)
        if caller == "openai":
            obj = emb.gemini_answer_to_openai(
                obj, call.model, encoding_format=call.body.get("encoding_format"), prompt_tokens=tokens
            )
    if isinstance(call, GeminiCall) and call.embed_single:
        obj = emb.gemini_batch_to_single(obj)
    return obj, usage
