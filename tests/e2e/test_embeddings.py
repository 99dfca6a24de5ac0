"""Embeddings across formats: OpenAI SDK and google-genai SDK callers, OpenAI and Gemini channels."""

from __future__ import annotations

import math

import openai
import pytest
from google import genai
from google.genai import types as gtypes

from tests.conftest import MATRIX_KEY, LiveGateway


def _openai(gw: LiveGateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=MATRIX_KEY, max_retries=0)


# Public names without "gemini" in them: google-genai merges a list of strings into one
# multimodal content for models whose name contains "gemini".
def _genai(gw: LiveGateway) -> genai.Client:
    return genai.Client(
        api_key=MATRIX_KEY, http_options=gtypes.HttpOptions(base_url=gw.url, api_version="v1beta")
    )


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7) for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("model", ["embed-o", "embed-g"])
async def test_openai_sdk_embeds_on_either_channel(matrix_gateway: LiveGateway, model: str) -> None:
    client = _openai(matrix_gateway)
    default = await client.embeddings.create(model=model, input=["alpha", "beta"])  # SDK asks for base64
    floats = await client.embeddings.create(model=model, input=["alpha", "beta"], encoding_format="float")
    assert [d.index for d in default.data] == [0, 1]
    for a, b in zip(default.data, floats.data, strict=True):
        assert _close(a.embedding, b.embedding)
    assert default.data[0].embedding != default.data[1].embedding
    assert default.usage.prompt_tokens > 0
    rows = await matrix_gateway.usage_rows("matrix")
    assert rows[-1]["endpoint"] == "embeddings" and rows[-1]["prompt_tokens"] > 0


@pytest.mark.parametrize("model", ["embed-o", "embed-g"])
async def test_genai_sdk_embeds_on_either_channel(matrix_gateway: LiveGateway, model: str) -> None:
    client = _genai(matrix_gateway)
    one = await client.aio.models.embed_content(model=model, contents="alpha")
    many = await client.aio.models.embed_content(model=model, contents=["alpha", "beta"])
    assert one.embeddings and many.embeddings and len(many.embeddings) == 2
    assert _close(one.embeddings[0].values or [], many.embeddings[0].values or [])
    # The same text gives the same vector through the OpenAI SDK: one upstream, two caller formats.
    direct = await _openai(matrix_gateway).embeddings.create(
        model=model, input="alpha", encoding_format="float"
    )
    assert _close(one.embeddings[0].values or [], direct.data[0].embedding)


async def test_gemini_embed_content_raw_single_form(matrix_gateway: LiveGateway) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for model in ("embed-o", "embed-g"):
            async with http.post(
                f"{matrix_gateway.url}/v1beta/models/{model}:embedContent",
                headers={"x-goog-api-key": MATRIX_KEY},
                json={"content": {"parts": [{"text": "alpha"}]}},
            ) as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.json()
                assert isinstance(body["embedding"]["values"], list) and body["embedding"]["values"]
            async with http.post(
                f"{matrix_gateway.url}/v1beta/models/{model}:embedContent",
                headers={"x-goog-api-key": MATRIX_KEY},
                json={"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}},
            ) as resp:
                assert resp.status == 400
                err = await resp.json()
                assert err["error"]["status"] == "INVALID_ARGUMENT" and "parts" in err["error"]["message"]
