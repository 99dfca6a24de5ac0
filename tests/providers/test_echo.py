"""The offline echo channel: deterministic answers, word-by-word streams, embeddings."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveGateway


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_echo_channel(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    async with gateway.client(secret) as client:
        resp = await client.chat.completions.create(
            model="echo-1",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "first answer"},
                {"role": "user", "content": "the quick brown fox"},
            ],
        )
        stream = await client.chat.completions.create(
            model="echo-1",
            messages=user("one two three four"),
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        emb_a = await client.embeddings.create(model="echo-embed", input="same input")
        emb_b = await client.embeddings.create(model="echo-embed", input="same input")
        emb_c = await client.embeddings.create(model="echo-embed", input="other input")

    assert resp.choices[0].message.content == "the quick brown fox"
    assert resp.usage is not None and resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0

    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(deltas) == "one two three four"
    assert len(deltas) == 4, f"expected word-by-word deltas, got {deltas!r}"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0

    vec = emb_a.data[0].embedding
    assert len(vec) > 0
    assert vec == emb_b.data[0].embedding
    assert vec != emb_c.data[0].embedding

    rows = await gateway.usage_rows(name)
    assert len(rows) == 5
    assert {r["channel"] for r in rows} == {"echo"}
    assert all(r["status"] == 200 for r in rows)
    assert rows[0]["completion_tokens"] == resp.usage.completion_tokens
    assert rows[1]["stream"] is True
    assert rows[1]["completion_tokens"] == chunks[-1].usage.completion_tokens
    assert [r["endpoint"] for r in rows[2:]] == ["embeddings"] * 3
