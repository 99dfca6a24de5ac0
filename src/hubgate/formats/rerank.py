"""Rerank between the Cohere v2 shape (`/v2/rerank`) and the Cohere v1 / Jina shape
(`/v1/rerank`, also what vLLM and Xinference serve), through one small hub request.

Both shapes take `{model, query, documents, top_n}` and answer with results
`[{index, relevance_score}]` sorted best first; they differ in what a document may
be, whether the answer carries the documents, and how usage is reported:

- Cohere v2: documents are strings; `max_tokens_per_doc`; results never carry the
  document; usage is `meta.billed_units.search_units`.
- Cohere v1 / Jina: documents are strings or objects (`{text}`, or Jina's `{image}`,
  which only a same-shape channel can take); `return_documents`
  (Jina's default is true) puts `document: {text}` in each result; usage is Jina's
  `usage.total_tokens` (or Cohere v1's `meta.billed_units`).

Pure functions: no I/O. Bad caller input raises InvalidRequest naming the field;
a bad upstream answer raises ValueError (the relay turns it into a 502).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hubgate.formats._checks import invalid, type_name


class Shape(StrEnum):
    """The two rerank wire shapes."""

    COHERE_V2 = "cohere-v2"
    V1 = "v1"  # Cohere v1 and Jina (vLLM, Xinference)


_FIELDS = {
    Shape.COHERE_V2: frozenset(
        {"model", "query", "documents", "top_n", "return_documents", "max_tokens_per_doc"}
    ),
    Shape.V1: frozenset({"model", "query", "documents", "top_n", "return_documents"}),
}


@dataclass(frozen=True, slots=True)
class Request:
    """A rerank request in neither shape. `return_documents` None: the shape's default;
    a document None: an object without text (an image), kept only by passing through."""

    model: str
    query: str
    documents: tuple[str | None, ...]
    top_n: int | None = None
    return_documents: bool | None = None
    max_tokens_per_doc: int | None = None

    def wants_documents(self, caller: Shape) -> bool:
        """Whether the caller's results carry the documents (Jina defaults to yes, Cohere v2 to no)."""
        if self.return_documents is not None:
            return self.return_documents
        return caller is Shape.V1


@dataclass(frozen=True, slots=True)
class Result:
    index: int
    relevance_score: float


@dataclass(frozen=True, slots=True)
class Answer:
    """An upstream's answer: results best first, and whatever usage it reported."""

    id: str | None
    results: tuple[Result, ...]
    search_units: int = 0
    tokens: int = 0


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, f"expected an integer, but got {type_name(value)} instead.")
    if value < 1:
        raise invalid(name, f"must be at least 1, not {value}.")
    return value


def _document(item: Any, i: int, shape: Shape) -> str | None:
    if isinstance(item, str):
        return item
    if shape is Shape.V1 and isinstance(item, dict):
        text = item.get("text")
        if text is None or isinstance(text, str):
            return text
        raise invalid(f"documents[{i}].text", f"expected a string, but got {type_name(text)} instead.")
    expected = "a string or an object" if shape is Shape.V1 else "a string"
    raise invalid(f"documents[{i}]", f"expected {expected}, but got {type_name(item)} instead.")


def decode_request(body: dict[str, Any], shape: Shape) -> Request:
    """A caller's body (in `shape`) as the hub request; 400 naming the field on bad input."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "a model name (string) is required.")
    query = body.get("query")
    if not isinstance(query, str) or not query:
        raise invalid("query", "a non-empty string is required.")
    documents = body.get("documents")
    if not isinstance(documents, list):
        raise invalid("documents", f"expected an array, but got {type_name(documents)} instead.")
    if not documents:
        raise invalid("documents", "must list at least one document.")
    return_documents = body.get("return_documents")
    if return_documents is not None and not isinstance(return_documents, bool):
        raise invalid(
            "return_documents", f"expected a boolean, but got {type_name(return_documents)} instead."
        )
    max_tokens = _positive_int(body, "max_tokens_per_doc") if shape is Shape.COHERE_V2 else None
    return Request(
        model=model,
        query=query,
        documents=tuple(_document(d, i, shape) for i, d in enumerate(documents)),
        top_n=_positive_int(body, "top_n"),
        return_documents=return_documents,
        max_tokens_per_doc=max_tokens,
    )


def check_translatable(req: Request, body: dict[str, Any], caller: Shape) -> None:
    """Refuse what the other shape cannot express rather than drop it silently."""
    for name in body:
        if name not in _FIELDS[caller]:
            raise invalid(name, "this field cannot be sent to a channel speaking the other rerank API.")
    for i, doc in enumerate(req.documents):
        if doc is None:
            raise invalid(f"documents[{i}]", "only text documents can be sent to a Cohere channel.")
    if caller is Shape.COHERE_V2 and body.get("max_tokens_per_doc") is not None:
        raise invalid("max_tokens_per_doc", "not supported by Jina-style rerank channels.")


def encode_request(req: Request, shape: Shape, model: str, caller: Shape) -> dict[str, Any]:
    """The upstream body in `shape` for `req` (asked by a `caller`-shaped client)."""
    documents = [d for d in req.documents if d is not None]
    if len(documents) != len(req.documents):
        raise invalid("documents", "only text documents can be translated.")
    out: dict[str, Any] = {"model": model, "query": req.query, "documents": documents}
    if req.top_n is not None:
        out["top_n"] = req.top_n
    if shape is Shape.COHERE_V2:
        if req.max_tokens_per_doc is not None:
            out["max_tokens_per_doc"] = req.max_tokens_per_doc
    else:
        out["return_documents"] = req.wants_documents(caller)
    return out


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def decode_response(obj: dict[str, Any], n_documents: int) -> Answer:
    """Either shape's answer (they share `results`); ValueError if it is not a valid one."""
    raw = obj.get("results")
    if not isinstance(raw, list):
        raise ValueError("rerank answer without results")
    results = []
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("rerank result that is not an object")
        index, score = item.get("index"), item.get("relevance_score")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_documents:
            raise ValueError(f"rerank result with a bad index: {index!r}")
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise ValueError(f"rerank result with a bad relevance_score: {score!r}")
        results.append(Result(index, float(score)))
    meta = _object(obj.get("meta"))
    billed = _object(meta.get("billed_units"))
    usage = _object(obj.get("usage"))
    tokens = _int(usage.get("total_tokens")) or _int(usage.get("prompt_tokens"))
    return Answer(
        id=obj["id"] if isinstance(obj.get("id"), str) else None,
        results=tuple(results),
        search_units=_int(billed.get("search_units")),
        tokens=tokens or _int(billed.get("input_tokens")),
    )


def encode_response(answer: Answer, shape: Shape, req: Request, model: str) -> dict[str, Any]:
    """The caller's answer in `shape`; documents come from the request, by index."""
    with_docs = req.wants_documents(shape)
    results = []
    for r in answer.results:
        item: dict[str, Any] = {"index": r.index, "relevance_score": r.relevance_score}
        doc = req.documents[r.index]
        if with_docs and doc is not None:
            item["document"] = {"text": doc}
        results.append(item)
    billed: dict[str, int] = {}
    if answer.search_units:
        billed["search_units"] = answer.search_units
    elif answer.tokens:
        billed["input_tokens"] = answer.tokens
    answer_id = answer.id or str(uuid.uuid4())
    if shape is Shape.COHERE_V2:
        meta: dict[str, Any] = {"api_version": {"version": "2"}, "billed_units": billed}
        if answer.tokens:
            meta["tokens"] = {"input_tokens": answer.tokens}
        return {"id": answer_id, "results": results, "meta": meta}
    out: dict[str, Any] = {"id": answer_id, "model": model, "results": results}
    if answer.tokens:
        out["usage"] = {"total_tokens": answer.tokens}
    if answer.search_units:
        out["meta"] = {"api_version": {"version": "1"}, "billed_units": billed}
    return out
