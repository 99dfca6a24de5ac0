"""Azure OpenAI channels: deployment URLs, the api-version query and the api-key header."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import LiveGateway
from tests.fakes.openai_upstream import DEFAULT_API_KEY


def marker() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_azure_channel(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    mark = marker()
    async with gateway.client(secret) as client:
        resp = await client.chat.completions.create(model="azure-gpt", messages=user(f"azure {mark}"))
        stream = await client.chat.completions.create(
            model="azure-gpt",
            messages=user(f"azure stream {mark}"),
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert resp.choices[0].message.content == f"Hello! You said: azure {mark}"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Hello! You said: azure stream {mark}"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6

    sent = [r for r in gateway.fake.requests if mark.encode() in r.body]
    assert len(sent) == 2
    for rec in sent:
        assert rec.path == "/openai/deployments/my-deployment/chat/completions"
        assert rec.query.get("api-version")
        assert rec.headers.get("api-key") == DEFAULT_API_KEY
        assert "authorization" not in rec.headers

    rows = await gateway.usage_rows(name)
    assert [(r["channel"], r["stream"], r["status"]) for r in rows] == [
        ("azure-east", False, 200),
        ("azure-east", True, 200),
    ]
    assert rows[0]["upstream_model"] == "my-deployment"
    assert rows[1]["completion_tokens"] == 6
