"""The rerank codec: Cohere v2 and Cohere v1 / Jina shapes through the hub request."""

from __future__ import annotations

from typing import Any

import pytest

from hubgate.errors import InvalidRequest
from hubgate.formats import rerank as rr

BODY: dict[str, Any] = {"model": "m", "query": "q", "documents": ["a", {"text": "b"}], "top_n": 1}


def test_v1_documents_may_be_text_objects_and_documents_default_on() -> None:
    req = rr.decode_request(BODY, rr.Shape.V1)
    assert req.documents == ("a", "b") and req.top_n == 1
    assert req.wants_documents(rr.Shape.V1) and not req.wants_documents(rr.Shape.COHERE_V2)


def test_encode_for_each_upstream_shape() -> None:
    req = rr.decode_request({**BODY, "documents": ["a", "b"], "max_tokens_per_doc": 9}, rr.Shape.COHERE_V2)
    assert rr.encode_request(req, rr.Shape.COHERE_V2, "up", rr.Shape.COHERE_V2) == {
        "model": "up", "query": "q", "documents": ["a", "b"], "top_n": 1, "max_tokens_per_doc": 9,
    }  # fmt: skip
    req = rr.decode_request(BODY, rr.Shape.V1)
    assert rr.encode_request(req, rr.Shape.V1, "up", rr.Shape.COHERE_V2)["return_documents"] is False
    assert "return_documents" not in rr.encode_request(req, rr.Shape.COHERE_V2, "up", rr.Shape.V1)


def test_answers_translate_both_ways() -> None:
    req = rr.decode_request(BODY, rr.Shape.V1)
    cohere = {"id": "x", "results": [{"index": 1, "relevance_score": 0.9}],
              "meta": {"billed_units": {"search_units": 1}}}  # fmt: skip
    answer = rr.decode_response(cohere, 2)
    assert (answer.search_units, answer.tokens) == (1, 0)
    assert rr.encode_response(answer, rr.Shape.V1, req, "pub") == {
        "id": "x", "model": "pub",
        "results": [{"index": 1, "relevance_score": 0.9, "document": {"text": "b"}}],
        "meta": {"api_version": {"version": "1"}, "billed_units": {"search_units": 1}},
    }  # fmt: skip
    jina = {"model": "up", "usage": {"total_tokens": 12}, "results": [{"index": 0, "relevance_score": 0.5}]}
    out = rr.encode_response(rr.decode_response(jina, 2), rr.Shape.COHERE_V2, req, "pub")
    assert out["results"] == [{"index": 0, "relevance_score": 0.5}] and out["id"]
    assert out["meta"]["billed_units"] == {"input_tokens": 12}


@pytest.mark.parametrize(
    "obj",
    [{}, {"results": [{"index": 2, "relevance_score": 1}]},
     {"results": [{"index": 0, "relevance_score": "x"}]}, {"results": ["not an object"]}],
)  # fmt: skip
def test_invalid_answers_raise(obj: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        rr.decode_response(obj, 2)


def test_untranslatable_fields_are_refused() -> None:
    req = rr.decode_request(BODY, rr.Shape.V1)
    with pytest.raises(InvalidRequest) as info:
        rr.check_translatable(req, {**BODY, "rank_fields": ["t"]}, rr.Shape.V1)
    assert info.value.param == "rank_fields"
    rr.check_translatable(req, BODY, rr.Shape.V1)  # nothing to refuse
    images = {**BODY, "documents": ["a", {"image": "https://example.com/cat.png"}]}
    req = rr.decode_request(images, rr.Shape.V1)  # fine for a Jina channel, as it passes through
    assert req.documents == ("a", None)
    with pytest.raises(InvalidRequest) as info:
        rr.check_translatable(req, images, rr.Shape.V1)
    assert info.value.param == "documents[1]"
