"""Every caller format (official SDK) against every upstream format (our fakes).

4 callers x 4 upstream formats (OpenAI Chat, Anthropic, Gemini, OpenAI Responses):
plain, streaming, tool calls (plain and streamed), usage and errors in every cell.
The fakes all answer "Hello! You said: <last user text>" and call `get_weather`
with {"city": "Paris", "unit": "celsius"}, so every cell asserts the same thing.
"""

from __future__ import annotations

import pytest

from tests.conftest import MATRIX_UPSTREAMS, LiveGateway
from tests.e2e.callers import CALLERS, Caller

REPLY = "Hello! You said: hi there"


@pytest.fixture(params=sorted(CALLERS))
def caller(request: pytest.FixtureRequest, matrix_gateway: LiveGateway) -> Caller:
    caller: Caller = CALLERS[request.param](matrix_gateway.url)  # type: ignore[call-arg]
    return caller


@pytest.fixture(params=MATRIX_UPSTREAMS)
def upstream(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


async def _last_row(gateway: LiveGateway) -> dict[str, object]:
    rows = await gateway.usage_rows("matrix")
    return rows[-1]


async def test_plain(caller: Caller, upstream: str, matrix_gateway: LiveGateway) -> None:
    answer = await caller.text(f"m-{upstream}", "hi there")
    assert answer.text == REPLY
    assert answer.input_tokens > 0 and answer.output_tokens > 0
    row = await _last_row(matrix_gateway)
    assert (row["channel"], row["status"], row["stream"]) == (f"up-{upstream}", 200, False)
    # The caller's usage (in its own API's convention) and the metered row agree.
    assert (row["prompt_tokens"], row["completion_tokens"]) == (answer.input_tokens, answer.output_tokens)


async def test_streaming(caller: Caller, upstream: str, matrix_gateway: LiveGateway) -> None:
    answer = await caller.stream(f"m-{upstream}", "hi there")
    assert answer.text == REPLY
    assert answer.input_tokens > 0 and answer.output_tokens > 0
    row = await _last_row(matrix_gateway)
    assert (row["channel"], row["status"], row["stream"]) == (f"up-{upstream}", 200, True)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (answer.input_tokens, answer.output_tokens)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_tool_call(caller: Caller, upstream: str, stream: bool) -> None:
    use = await caller.tool(f"m-{upstream}-tool", stream)
    assert use.name == "get_weather"
    assert use.arguments == {"city": "Paris", "unit": "celsius"}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_upstream_error_reaches_the_caller_in_its_own_shape(
    caller: Caller, upstream: str, stream: bool
) -> None:
    assert await caller.error_status(f"m-{upstream}-fail", stream) == 500
