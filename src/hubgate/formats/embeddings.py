"""Embeddings between OpenAI (`/v1/embeddings`) and Gemini (`:embedContent`,
`:batchEmbedContents`). Gemini callers are carried in the batch form throughout; a
single `embedContent` is a batch of one on the way in and unwrapped on the way out."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from hubgate.errors import InvalidRequest


def _texts(content: Any, where: str) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        raise InvalidRequest(
            f"{where}.content: expected a Content object with parts.", param=f"{where}.content"
        )
    texts = []
    for i, part in enumerate(content["parts"]):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise InvalidRequest(
                f"{where}.content.parts[{i}]: only text parts can be embedded.",
                param=f"{where}.content.parts",
            )
        texts.append(part["text"])
    return " ".join(texts)


def _dims(req: dict[str, Any]) -> Any:
    return req.get("outputDimensionality", req.get("output_dimensionality"))


def gemini_single_to_batch(body: dict[str, Any], model: str) -> dict[str, Any]:
    """`embedContent` body -> the equivalent `batchEmbedContents` body."""
    return {"requests": [{**body, "model": f"models/{model}"}]}


def gemini_batch_to_single(answer: dict[str, Any]) -> dict[str, Any]:
    embeddings = answer.get("embeddings") or [{}]
    out: dict[str, Any] = {"embedding": embeddings[0]}
    if "usageMetadata" in answer:
        out["usageMetadata"] = answer["usageMetadata"]
    return out


def check_gemini_batch(body: dict[str, Any]) -> list[str]:
    """The texts of a batch body (400 naming the field on bad input)."""
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise InvalidRequest("requests: must be a non-empty list.", param="requests")
    texts = []
    for i, r in enumerate(requests):
        texts.append(_texts(r.get("content") if isinstance(r, dict) else None, f"requests[{i}]"))
        dims = _dims(r)
        if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool) or dims < 1):
            raise InvalidRequest(
                f"requests[{i}].outputDimensionality: expected a positive integer.",
                param=f"requests[{i}].outputDimensionality",
            )
    return texts


def gemini_batch_for_upstream(body: dict[str, Any], model: str) -> dict[str, Any]:
    """A caller's batch with every request naming the upstream model (Gemini insists)."""
    return {**body, "requests": [{**r, "model": f"models/{model}"} for r in body["requests"]]}


def gemini_batch_to_openai(body: dict[str, Any], model: str) -> dict[str, Any]:
    texts = check_gemini_batch(body)
    out: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
    dims = _dims(body["requests"][0])
    if dims is not None:
        out["dimensions"] = dims
    return out


def openai_to_gemini_batch(body: dict[str, Any], model: str) -> dict[str, Any]:
    value = body.get("input")
    items = [value] if isinstance(value, str) else list(value or [])
    requests = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidRequest(
                f"input[{i}]: token arrays cannot be embedded by a Gemini channel; send text.", param="input"
            )
        req: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": item}]}}
        if body.get("dimensions") is not None:
            req["outputDimensionality"] = body["dimensions"]
        requests.append(req)
    return {"requests": requests}


def _values(item: Any) -> list[float]:
    if isinstance(item, dict) and isinstance(item.get("embedding"), list):
        return [float(v) for v in item["embedding"]]
    if isinstance(item, dict) and isinstance(item.get("embedding"), str):
        raw = base64.b64decode(item["embedding"])
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    raise ValueError("an embedding without values")


def openai_answer_to_gemini_batch(answer: dict[str, Any]) -> dict[str, Any]:
    data = sorted(answer.get("data") or [], key=lambda d: d.get("index", 0))
    return {"embeddings": [{"values": _values(d)} for d in data]}


def gemini_answer_to_openai(
    answer: dict[str, Any], model: str, *, encoding_format: str | None, prompt_tokens: int
) -> dict[str, Any]:
    data = []
    for i, emb in enumerate(answer.get("embeddings") or []):
        values = [float(v) for v in (emb.get("values") or [])]
        embedding: Any = values
        if encoding_format == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def estimate_tokens(texts: list[str]) -> int:
    """Gemini's batch answer carries no usage; about four bytes of text a token."""
    return sum(math.ceil(len(t.encode()) / 4) for t in texts)


def openai_input_texts(body: dict[str, Any]) -> list[str]:
    value = body.get("input")
    items = [value] if isinstance(value, str) else list(value or [])
    return [i for i in items if isinstance(i, str)]
