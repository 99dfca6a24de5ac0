"""A fake rerank upstream speaking Cohere v2 (`POST /v2/rerank`) and Jina / vLLM
(`POST /v1/rerank`): point a `cohere` or `jina` channel at ``root_url`` and an
`openai-compatible` one at ``base_url`` (``root_url`` + ``/v1``).

Scores are deterministic: the share of the query's words found in the document,
ties broken by document order. Models: ``fail-500`` answers HTTP 500, ``bad-answer``
answers 200 with a result that points past the documents.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from aiohttp import web

from tests.fakes._server import PARSED, FakeServer, json_response

API_KEY = "sk-fake-rerank"
_WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def score(query: str, document: str) -> float:
    """Word overlap with the query, in [0, 1]."""
    wanted = words(query)
    return round(len(wanted & words(document)) / len(wanted), 6) if wanted else 0.0


def ranking(query: str, documents: list[str]) -> list[tuple[int, float]]:
    """(index, score) best first, as both APIs order their results."""
    scored = [(i, score(query, d)) for i, d in enumerate(documents)]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0]))


def tokens(query: str, documents: list[str]) -> int:
    """Jina counts query + document per pair; here a token is a word."""
    q = len(_WORD.findall(query))
    return sum(q + len(_WORD.findall(d)) for d in documents)


def _error(status: int, message: str, jina: bool) -> web.Response:
    return json_response({"detail": message} if jina else {"message": message}, status=status)


class FakeRerank(FakeServer):
    base_path = "/v1"

    def __init__(self) -> None:
        super().__init__()
        self.api_key = API_KEY

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/rerank", self._cohere_v2)
        app.router.add_post("/v1/rerank", self._jina)

    def _check(self, request: web.Request, jina: bool) -> tuple[dict[str, Any], list[Any]] | web.Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid api token", jina)
        ok, body = request[PARSED]
        if not ok or not isinstance(body, dict):
            return _error(400, "invalid JSON", jina)
        if not isinstance(body.get("query"), str) or not isinstance(body.get("documents"), list):
            return _error(400, "query and documents are required", jina)
        if body.get("model") == "fail-500":
            return _error(500, "internal error", jina)
        return body, body["documents"]

    async def _cohere_v2(self, request: web.Request) -> web.Response:
        checked = self._check(request, jina=False)
        if isinstance(checked, web.Response):
            return checked
        body, documents = checked
        allowed = {"model", "query", "documents", "top_n", "max_tokens_per_doc", "return_documents"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            return _error(400, f"invalid request: unknown field {unknown[0]}", jina=False)
        if not all(isinstance(d, str) for d in documents):
            return _error(400, "invalid request: documents must be strings", jina=False)
        ranked = ranking(body["query"], documents)[: body.get("top_n") or len(documents)]
        results: list[dict[str, Any]] = [{"index": i, "relevance_score": s} for i, s in ranked]
        if body.get("return_documents"):
            for r in results:
                r["document"] = {"text": documents[r["index"]]}
        if body["model"] == "bad-answer":
            results = [{"index": len(documents), "relevance_score": 0.5}]
        units = math.ceil(len(documents) / 100)
        meta = {"api_version": {"version": "2"}, "billed_units": {"search_units": units}}
        return json_response({"id": str(uuid.uuid4()), "results": results, "meta": meta})

    async def _jina(self, request: web.Request) -> web.Response:
        checked = self._check(request, jina=True)
        if isinstance(checked, web.Response):
            return checked
        body, documents = checked
        texts = []
        for d in documents:
            if isinstance(d, dict) and isinstance(d.get("text"), str):
                texts.append(d["text"])
            elif isinstance(d, str):
                texts.append(d)
            else:
                return _error(422, "documents must be strings or {text} objects", jina=True)
        ranked = ranking(body["query"], texts)[: body.get("top_n") or len(texts)]
        results: list[dict[str, Any]] = [{"index": i, "relevance_score": s} for i, s in ranked]
        if body.get("return_documents", True):
            for r in results:
                r["document"] = {"text": texts[r["index"]]}
        if body["model"] == "bad-answer":
            results = [{"index": 0, "relevance_score": "high"}]
        return json_response(
            {
                "id": f"rerank-{uuid.uuid4().hex}",
                "model": body.get("model"),
                "usage": {"total_tokens": tokens(body["query"], texts)},
                "results": results,
            }
        )
