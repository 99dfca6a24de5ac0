"""Rerank end to end: Cohere v2 (`/v2/rerank`) and Cohere v1 / Jina (`/v1/rerank`) callers,
to `cohere`, `jina` and `openai-compatible` (vLLM) channels, on SQLite and PostgreSQL.

Raw aiohttp is the client: no SDK for these APIs is among our dependencies.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from hubgate.settings import parse_settings
from tests.conftest import LiveGateway, _serve
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.rerank_upstream import API_KEY, FakeRerank, ranking, tokens

COHERE_MODEL = "rerank-v3.5"
JINA_MODEL = "jina-reranker-v2-base-multilingual"
VLLM_MODEL = "BAAI/bge-reranker-v2-m3"
# Cohere: USD per search unit (per_request); Jina / vLLM: USD per 1M tokens, so a token is 1000 micro-dollars.
PER_SEARCH_UNIT_MICROS = 2000
PER_TOKEN_MICROS = 1000

QUERY = "What is the capital of the United States?"
DOCS = [
    "Carson City is the capital city of Nevada.",
    "Washington, D.C. is the capital of the United States.",
    "The capital city of France is Paris.",
    "Capital punishment has existed in the United States since before it was a country.",
]
# The public model names, by upstream kind.
UPSTREAMS = {"cohere": "co-rerank", "jina": "jina-rerank", "vllm": "vllm-rerank"}
UPSTREAM_MODELS = {"co-rerank": COHERE_MODEL, "jina-rerank": JINA_MODEL, "vllm-rerank": VLLM_MODEL}


@pytest.fixture(scope="session")
async def fake_rerank() -> AsyncIterator[FakeRerank]:
    async with FakeRerank() as fake:
        yield fake


@pytest.fixture(scope="session")
async def rerank_gateway(
    database_url: str, fake_openai: FakeOpenAI, fake_rerank: FakeRerank
) -> AsyncIterator[LiveGateway]:
    root, v1 = fake_rerank.root_url, fake_rerank.base_url
    config: dict[str, Any] = {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": 0,
        "channels": [
            {"name": "co", "type": "cohere", "base_url": root, "api_key": API_KEY,
             "models": ["co-rerank", "co-bad"],
             "model_map": {"co-rerank": COHERE_MODEL, "co-bad": "bad-answer"}},
            {"name": "jn", "type": "jina", "base_url": root, "api_key": API_KEY,
             "models": ["jina-rerank", "jina-bad"],
             "model_map": {"jina-rerank": JINA_MODEL, "jina-bad": "bad-answer"}},
            {"name": "vl", "type": "openai-compatible", "base_url": v1, "api_key": API_KEY,
             "models": ["vllm-rerank"], "model_map": {"vllm-rerank": VLLM_MODEL}},
            # Plain OpenAI has no rerank endpoint: never chosen for one.
            {"name": "oa", "type": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key,
             "models": ["gpt-4o-mini"]},
        ],
        "pricing": {
            COHERE_MODEL: {"input": 0, "per_request": "0.002"},  # USD per search unit
            JINA_MODEL: {"input": PER_TOKEN_MICROS},
            "bge-reranker-v2-m3": {"input": PER_TOKEN_MICROS},
        },
    }  # fmt: skip
    settings = parse_settings(config, env={})
    runner, app, url = await _serve(settings)
    try:
        yield LiveGateway(url=url, app=app, settings=settings, fake=fake_openai)
    finally:
        await runner.cleanup()


async def _post(gw: LiveGateway, secret: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{gw.url}{path}", json=body, headers={"authorization": f"Bearer {secret}"}) as resp,
    ):
        return resp.status, await resp.json()


def _expected(top_n: int | None = None) -> list[tuple[int, float]]:
    return ranking(QUERY, DOCS)[: top_n or len(DOCS)]


def _pairs(answer: dict[str, Any]) -> list[tuple[int, float]]:
    return [(r["index"], r["relevance_score"]) for r in answer["results"]]


async def test_v2_caller_to_cohere_passes_through(
    rerank_gateway: LiveGateway, fake_rerank: FakeRerank
) -> None:
    _, secret = await rerank_gateway.new_key()
    fake_rerank.reset()
    body = {"model": "co-rerank", "query": QUERY, "documents": DOCS, "top_n": 2, "max_tokens_per_doc": 512}
    status, answer = await _post(rerank_gateway, secret, "/v2/rerank", body)
    assert status == 200, answer
    (sent,) = fake_rerank.requests
    assert sent.path == "/v2/rerank"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.json == {**body, "model": COHERE_MODEL}  # only the model name changed
    assert _pairs(answer) == _expected(2)
    assert answer["results"][0]["index"] == 1  # Washington, D.C.
    assert answer["meta"]["billed_units"] == {"search_units": 1}
    assert "document" not in answer["results"][0]


@pytest.mark.parametrize("model", ["jina-rerank", "vllm-rerank"])
async def test_v1_caller_to_jina_and_vllm_passes_through(
    rerank_gateway: LiveGateway, fake_rerank: FakeRerank, model: str
) -> None:
    _, secret = await rerank_gateway.new_key()
    fake_rerank.reset()
    documents: list[Any] = [DOCS[0], {"text": DOCS[1]}, *DOCS[2:]]  # Jina takes {text} objects too
    body = {"model": model, "query": QUERY, "documents": documents, "top_n": 3}
    status, answer = await _post(rerank_gateway, secret, "/v1/rerank", body)
    assert status == 200, answer
    (sent,) = fake_rerank.requests
    assert sent.path == "/v1/rerank"  # jina: {base_url}/v1/rerank; vLLM: {base_url ending /v1}/rerank
    assert sent.json == {**body, "model": UPSTREAM_MODELS[model]}
    assert answer["model"] == model  # the caller's name, not the upstream's
    assert _pairs(answer) == _expected(3)
    assert [r["document"]["text"] for r in answer["results"]] == [DOCS[i] for i, _ in _expected(3)]
    assert answer["usage"] == {"total_tokens": tokens(QUERY, DOCS)}


@pytest.mark.parametrize("model", ["jina-rerank", "vllm-rerank"])
async def test_v2_caller_to_jina_shaped_channel_is_translated(
    rerank_gateway: LiveGateway, fake_rerank: FakeRerank, model: str
) -> None:
    _, secret = await rerank_gateway.new_key()
    fake_rerank.reset()
    body = {"model": model, "query": QUERY, "documents": DOCS, "top_n": 2}
    status, answer = await _post(rerank_gateway, secret, "/v2/rerank", body)
    assert status == 200, answer
    (sent,) = fake_rerank.requests
    assert sent.json == {
        "model": UPSTREAM_MODELS[model],
        "query": QUERY,
        "documents": DOCS,
        "top_n": 2,
        "return_documents": False,  # Cohere v2 answers carry no documents unless asked
    }
    assert set(answer) == {"id", "results", "meta"}
    assert _pairs(answer) == _expected(2)
    assert all(set(r) == {"index", "relevance_score"} for r in answer["results"])
    total = tokens(QUERY, DOCS)
    assert answer["meta"]["billed_units"] == {"input_tokens": total}
    assert answer["meta"]["tokens"] == {"input_tokens": total}


async def test_v2_caller_asking_for_documents_gets_them(rerank_gateway: LiveGateway) -> None:
    _, secret = await rerank_gateway.new_key()
    body = {"model": "jina-rerank", "query": QUERY, "documents": DOCS, "return_documents": True}
    status, answer = await _post(rerank_gateway, secret, "/v2/rerank", body)
    assert status == 200, answer
    assert [r["document"] for r in answer["results"]] == [{"text": DOCS[i]} for i, _ in _expected()]


async def test_v1_caller_to_cohere_is_translated(
    rerank_gateway: LiveGateway, fake_rerank: FakeRerank
) -> None:
    _, secret = await rerank_gateway.new_key()
    fake_rerank.reset()
    documents: list[Any] = [{"text": d} for d in DOCS]
    body = {"model": "co-rerank", "query": QUERY, "documents": documents, "top_n": 3}
    status, answer = await _post(rerank_gateway, secret, "/v1/rerank", body)
    assert status == 200, answer
    (sent,) = fake_rerank.requests
    assert sent.path == "/v2/rerank"
    # Cohere v2 takes strings and has no return_documents: the gateway adds the documents back.
    assert sent.json == {"model": COHERE_MODEL, "query": QUERY, "documents": DOCS, "top_n": 3}
    assert answer["model"] == "co-rerank"
    assert _pairs(answer) == _expected(3)
    assert [r["document"]["text"] for r in answer["results"]] == [DOCS[i] for i, _ in _expected(3)]
    assert answer["meta"]["billed_units"] == {"search_units": 1}
    # Without documents when the caller says so.
    status, answer = await _post(rerank_gateway, secret, "/v1/rerank", {**body, "return_documents": False})
    assert status == 200 and all("document" not in r for r in answer["results"])


@pytest.mark.parametrize("path", ["/v1/rerank", "/v2/rerank"])
@pytest.mark.parametrize("model", list(UPSTREAMS.values()))
@pytest.mark.parametrize("top_n", [None, 1, 10])
async def test_every_caller_to_every_upstream_ranks_the_same(
    rerank_gateway: LiveGateway, path: str, model: str, top_n: int | None
) -> None:
    _, secret = await rerank_gateway.new_key()
    body: dict[str, Any] = {"model": model, "query": QUERY, "documents": DOCS}
    if top_n is not None:
        body["top_n"] = top_n
    status, answer = await _post(rerank_gateway, secret, path, body)
    assert status == 200, answer
    assert _pairs(answer) == _expected(top_n)
    scores = [s for _, s in _pairs(answer)]
    assert scores == sorted(scores, reverse=True)


async def test_api_prefix_and_bare_path(rerank_gateway: LiveGateway) -> None:
    _, secret = await rerank_gateway.new_key()
    body = {"model": "co-rerank", "query": QUERY, "documents": DOCS, "top_n": 1}
    for path in ("/api/v2/rerank", "/api/v1/rerank", "/rerank"):
        status, answer = await _post(rerank_gateway, secret, path, body)
        assert status == 200, (path, answer)
        assert _pairs(answer) == _expected(1)


@pytest.mark.parametrize(
    ("path", "change", "param"),
    [
        ("/v1/rerank", {"query": None}, "query"),
        ("/v2/rerank", {"query": ""}, "query"),
        ("/v2/rerank", {"query": 42}, "query"),
        ("/v1/rerank", {"documents": []}, "documents"),
        ("/v2/rerank", {"documents": "one document"}, "documents"),
        ("/v2/rerank", {"documents": None}, "documents"),
        ("/v1/rerank", {"documents": ["ok", 7]}, "documents[1]"),
        ("/v1/rerank", {"documents": [{"title": "no text"}]}, "documents[0]"),  # to Cohere: text only
        ("/v1/rerank", {"documents": [{"text": 3}]}, "documents[0].text"),
        ("/v2/rerank", {"documents": [{"text": "v2 takes strings"}]}, "documents[0]"),
        ("/v2/rerank", {"top_n": "2"}, "top_n"),
        ("/v1/rerank", {"top_n": 0}, "top_n"),
        ("/v1/rerank", {"return_documents": "yes"}, "return_documents"),
        ("/v2/rerank", {"max_tokens_per_doc": -1}, "max_tokens_per_doc"),
        ("/v1/rerank", {"model": None}, "model"),
        # Fields the other shape cannot express are refused, not dropped.
        ("/v2/rerank", {"model": "jina-rerank", "max_tokens_per_doc": 100}, "max_tokens_per_doc"),
        ("/v1/rerank", {"model": "co-rerank", "rank_fields": ["title"]}, "rank_fields"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    rerank_gateway: LiveGateway, fake_rerank: FakeRerank, path: str, change: dict[str, Any], param: str
) -> None:
    _, secret = await rerank_gateway.new_key()
    fake_rerank.reset()
    body = {"model": "co-rerank", "query": QUERY, "documents": DOCS}
    body = {k: v for k, v in {**body, **change}.items() if v is not None}
    status, answer = await _post(rerank_gateway, secret, path, body)
    assert status == 400, answer
    error = answer["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param.split("[")[0] in error["message"]
    assert fake_rerank.requests == []  # refused before any upstream saw it


async def test_channels_without_rerank_are_not_used(rerank_gateway: LiveGateway) -> None:
    _, secret = await rerank_gateway.new_key()
    status, answer = await _post(
        rerank_gateway, secret, "/v1/rerank", {"model": "gpt-4o-mini", "query": QUERY, "documents": DOCS}
    )
    assert status == 404 and answer["error"]["param"] == "model"
    # ... and rerank-only channels serve nothing but rerank.
    status, answer = await _post(
        rerank_gateway, secret, "/v1/chat/completions",
        {"model": "co-rerank", "messages": [{"role": "user", "content": "hi"}]},
    )  # fmt: skip
    assert status == 404, answer


@pytest.mark.parametrize(("path", "model"), [("/v2/rerank", "co-bad"), ("/v1/rerank", "jina-bad")])
async def test_an_invalid_upstream_answer_is_502(rerank_gateway: LiveGateway, path: str, model: str) -> None:
    _, secret = await rerank_gateway.new_key()
    status, answer = await _post(
        rerank_gateway, secret, path, {"model": model, "query": QUERY, "documents": DOCS}
    )
    assert status == 502, answer


async def test_cohere_is_billed_per_search_unit(rerank_gateway: LiveGateway) -> None:
    name, secret = await rerank_gateway.new_key()
    many = [f"document {i} about the capital" for i in range(150)]  # 150 documents: two search units
    for path in ("/v2/rerank", "/v1/rerank"):
        status, answer = await _post(
            rerank_gateway,
            secret,
            path,
            {"model": "co-rerank", "query": QUERY, "documents": many, "top_n": 5},
        )
        assert status == 200, answer
        assert answer["meta"]["billed_units"] == {"search_units": 2}
    rows = await rerank_gateway.usage_rows(name)
    assert [r["endpoint"] for r in rows] == ["rerank", "rerank"]
    for row in rows:
        assert (row["status"], row["model"], row["upstream_model"], row["channel"]) == (
            200, "co-rerank", COHERE_MODEL, "co",
        )  # fmt: skip
        assert row["prompt_tokens"] == row["completion_tokens"] == 0
        assert row["cost_micros"] == math.ceil(150 / 100) * PER_SEARCH_UNIT_MICROS
        assert (row["units"], row["unit"]) == (2, "search_unit")


@pytest.mark.parametrize("model", ["jina-rerank", "vllm-rerank"])
async def test_jina_and_vllm_are_billed_per_token(rerank_gateway: LiveGateway, model: str) -> None:
    name, secret = await rerank_gateway.new_key()
    for path in ("/v1/rerank", "/v2/rerank"):
        status, answer = await _post(
            rerank_gateway, secret, path, {"model": model, "query": QUERY, "documents": DOCS}
        )
        assert status == 200, answer
    rows = await rerank_gateway.usage_rows(name)
    total = tokens(QUERY, DOCS)
    assert [(r["endpoint"], r["upstream_model"]) for r in rows] == [("rerank", UPSTREAM_MODELS[model])] * 2
    for row in rows:
        assert (row["prompt_tokens"], row["completion_tokens"]) == (total, 0)
        assert row["cost_micros"] == total * PER_TOKEN_MICROS


async def test_failed_rerank_is_logged_unbilled(rerank_gateway: LiveGateway) -> None:
    name, secret = await rerank_gateway.new_key()
    status, _ = await _post(rerank_gateway, secret, "/v2/rerank", {"model": "co-rerank", "query": QUERY})
    assert status == 400
    (row,) = await rerank_gateway.usage_rows(name)
    assert (row["endpoint"], row["status"], row["cost_micros"]) == ("rerank", 400, 0)
