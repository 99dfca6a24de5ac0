"""A finished request leaves no reference cycle behind: its objects go with their last
reference, not at the cyclic GC's next collection, which runs on the event loop and took
longer the more such garbage every request left."""

from __future__ import annotations

import asyncio
import gc

from hubgate.relay.finish import Finish
from tests.conftest import LiveGateway


def _finishes() -> list[Finish]:
    return [o for o in gc.get_objects() if isinstance(o, Finish)]


async def test_a_finished_request_leaves_nothing_for_the_cyclic_gc(gateway: LiveGateway) -> None:
    _, secret = await gateway.new_key()
    messages = [{"role": "user", "content": "no cycles"}]
    async with gateway.client(secret) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # warm up
        gc.collect()
        gc.disable()  # what a cycle keeps alive now stays alive
        try:
            await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
            stream = await client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
            async for _ in stream:
                pass
            for _ in range(100):  # the handler's last step may run just after the client's
                left = _finishes()
                if not left:
                    break
                del left
                await asyncio.sleep(0.01)
            assert _finishes() == []
        finally:
            gc.enable()
