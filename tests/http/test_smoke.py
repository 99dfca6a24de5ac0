from __future__ import annotations

from tests.conftest import LiveGateway


async def test_chat_roundtrip(gateway: LiveGateway) -> None:
    name, secret = await gateway.new_key()
    client = gateway.client(secret)
    resp = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi there"}]
    )
    assert resp.choices[0].message.content == "Hello! You said: hi there"
    rows = await gateway.usage_rows(name)
    assert len(rows) == 1
    assert rows[0]["status"] == 200 and rows[0]["prompt_tokens"] == resp.usage.prompt_tokens
