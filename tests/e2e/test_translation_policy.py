"""The translation policy end to end: bodies shaped like today's agent CLIs (Claude Code
2.1 on /v1/messages, Codex 0.171 on /v1/responses) against every upstream format of the
matrix gateway, through the official SDKs. Same format passes through untouched; across
formats what maps is mapped, what cannot is dropped, never refused, and named in
`x-hubgate-dropped` (JSON answers and streams) and in /metrics.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from hubgate.formats import sealed
from tests.conftest import MATRIX_KEY, LiveGateway, Upstreams
from tests.e2e.test_formats_features import last_sent, sse_events

HEADER = "x-hubgate-dropped"
SHELL_SCHEMA = {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}
PATH_SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
EPHEMERAL = {"type": "ephemeral"}

# -- Claude Code 2.1 -------------------------------------------------------------------------------------

CLAUDE_CODE: dict[str, Any] = {
    "max_tokens": 16000,
    "system": [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": "Working directory: /work", "cache_control": EPHEMERAL},
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>CLAUDE.md says: be brief</system-reminder>"},
                {"type": "text", "text": "list the files"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Use ls.", "signature": "SIGNED"},
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": "a.txt",
                    "cache_control": EPHEMERAL,
                }
            ],
        },
        # a system reminder after the first user turn, as Claude Code 2.1 sends it
        {"role": "system", "content": "<system-reminder>The user opened a.txt</system-reminder>"},
        {"role": "user", "content": [{"type": "text", "text": "hi there", "cache_control": EPHEMERAL}]},
    ],
    "tools": [
        {"name": "Bash", "description": "Run a shell command", "input_schema": SHELL_SCHEMA},
        {
            "name": "Read",
            "description": "Read a file",
            "input_schema": PATH_SCHEMA,
            "cache_control": EPHEMERAL,
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
    ],
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "medium"},
    "metadata": {"user_id": "user_0123_account_4567_session_89ab"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
}
CLAUDE_DROPPED = {"context_management", "tools.3:tool_search_tool_regex_20251119"}
CLAUDE_DROPPED_BY = {
    "m-openai": CLAUDE_DROPPED | {"tools.2:web_search"},
    "m-responses": CLAUDE_DROPPED,
    "m-gemini": CLAUDE_DROPPED | {"user"},
}
REMINDER = "<system-reminder>The user opened a.txt</system-reminder>"


def dropped(headers: Any) -> set[str]:
    value = headers.get(HEADER)
    return {v.strip() for v in value.split(",")} if value else set()


def anthropic_client(gw: LiveGateway) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=MATRIX_KEY, max_retries=0)


async def _claude_code(gw: LiveGateway, model: str, stream: bool, signature: str | None) -> tuple[Any, str]:
    """(response headers, answer text) of one Claude Code shaped call; `signature` signs
    the history's thinking block (each upstream checks its own; None leaves it out)."""
    body = copy.deepcopy(CLAUDE_CODE)
    if signature is None:
        del body["messages"][1]["content"][0]
    else:
        body["messages"][1]["content"][0]["signature"] = signature
    extra = {"context_management": body.pop("context_management"), "output_config": body.pop("output_config")}
    client = anthropic_client(gw)
    if not stream:
        raw = await client.messages.with_raw_response.create(model=model, extra_body=extra, **body)
        message = await raw.parse()
        return raw.headers, "".join(b.text for b in message.content if b.type == "text")
    async with client.messages.with_streaming_response.create(
        model=model, stream=True, extra_body=extra, **body
    ) as response:
        text = ""
        async for line in response.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("type") == "content_block_delta" and event["delta"].get("type") == "text_delta":
                    text += event["delta"]["text"]
        return response.headers, text


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_claude_code_body_to_an_anthropic_channel_passes_through(
    stream: bool, matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    mark = len(upstreams.anthropic.requests)
    headers, text = await _claude_code(
        matrix_gateway, "m-anthropic", stream, upstreams.anthropic.sign("Use ls.")
    )
    assert text.startswith("Hello! You said:") and text.endswith("hi there")
    assert HEADER not in headers
    sent = last_sent(upstreams.anthropic, mark, "/messages")
    assert sent["messages"][3] == CLAUDE_CODE["messages"][3] and sent["tools"] == CLAUDE_CODE["tools"]
    assert sent["context_management"] == CLAUDE_CODE["context_management"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["m-openai", "m-responses", "m-gemini"])
async def test_claude_code_body_to_other_formats_is_mapped_and_drops_are_named(
    model: str, stream: bool, matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    fake = {"m-openai": upstreams.openai, "m-responses": upstreams.responses, "m-gemini": upstreams.gemini}[
        model
    ]
    mark = len(fake.requests)
    headers, text = await _claude_code(matrix_gateway, model, stream, None)
    assert text  # the Gemini fake answers the tool result in the same turn, the others the text
    assert dropped(headers) == CLAUDE_DROPPED_BY[model]
    sent = last_sent(fake, mark, "" if model == "m-gemini" else "/")
    assert "cache_control" not in json.dumps(sent)
    if model == "m-openai":
        roles = [m["role"] for m in sent["messages"]]
        assert roles == ["system", "user", "assistant", "tool", "system", "user"]
        assert sent["messages"][4] == {"role": "system", "content": REMINDER}
        assert [t["function"]["name"] for t in sent["tools"]] == ["Bash", "Read"]
        assert sent["reasoning_effort"] == "medium"
    elif model == "m-responses":
        assert {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": REMINDER}],
        } in (sent["input"])
        assert sent["input"][-1]["role"] == "user"
        assert sent["tools"][-1] == {"type": "web_search"}
        assert sent["reasoning"]["effort"] == "medium"
    else:
        assert sent["systemInstruction"]["parts"][-1] == {"text": REMINDER}
        assert {"googleSearch": {}} in sent["tools"]
        assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == ["Bash", "Read"]


SEALED_GEMINI = sealed.seal(sealed.Sealed("gemini", "R2VtaW5pIHNpZ25hdHVyZQ=="))
SEALED_RESPONSES = sealed.seal(sealed.Sealed("openai_responses", "gAAAAABsealed-from_responses"))


@pytest.mark.parametrize("model", ["m-responses", "m-gemini"])
async def test_reasoning_state_goes_back_to_its_own_kind_of_upstream_only(
    model: str, matrix_gateway: LiveGateway, upstreams: Upstreams
) -> None:
    """A thinking signature hubgate sealed for another format: the upstream that issued it
    gets its original back; another kind of upstream gets nothing, and the drop is named."""
    fake = upstreams.responses if model == "m-responses" else upstreams.gemini
    upstreams.responses.issued.add("gAAAAABsealed-from_responses")
    for signature, own in ((SEALED_RESPONSES, model == "m-responses"), (SEALED_GEMINI, model == "m-gemini")):
        mark = len(fake.requests)
        headers, text = await _claude_code(matrix_gateway, model, False, signature)
        assert text
        sent = json.dumps(last_sent(fake, mark, "" if model == "m-gemini" else "/"))
        original = sealed.unseal(signature)
        assert original is not None and (original.signature in sent) is own
        assert sealed.PREFIX not in sent
        assert ("messages[1].parts[0]:reasoning" in dropped(headers)) is not own


async def test_drops_are_counted_in_metrics(matrix_gateway: LiveGateway, upstreams: Upstreams) -> None:
    await _claude_code(matrix_gateway, "m-openai", False, None)
    async with aiohttp.ClientSession() as http, http.get(f"{matrix_gateway.url}/metrics") as resp:
        text = await resp.text()
    lines = [line for line in text.splitlines() if line.startswith("hubgate_translation_dropped_total{")]
    tool = next(line for line in lines if 'caller_format="anthropic"' in line and 'kind="tool"' in line
                and 'upstream_format="openai_chat"' in line)  # fmt: skip
    assert float(tool.rsplit(" ", 1)[1]) >= 2  # tool_search dropped by the decoder, web search by the encoder
    assert any('kind="field"' in line for line in lines)


# -- Codex 0.171 -----------------------------------------------------------------------------------------

NAMESPACE = {
    "type": "namespace",
    "name": "mcp__files",
    "description": "Tools of the files MCP server",
    "tools": [
        {
            "type": "function",
            "name": "read_file",
            "description": "Read a file",
            "strict": False,
            "parameters": PATH_SCHEMA,
        }
    ],
}
SHELL = {
    "type": "function",
    "name": "shell",
    "description": "Run a command",
    "strict": False,
    "parameters": SHELL_SCHEMA,
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch to files",
    "format": {
        "type": "grammar",
        "syntax": "lark",
        "definition": 'start: "*** Begin Patch" hunk* "*** End Patch"',
    },
}
PATCH = "*** Begin Patch\n*** End Patch"


def _text_item(role: str, text: str) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}


CODEX: dict[str, Any] = {
    "instructions": "You are Codex, a coding agent running in a terminal.",
    "input": [
        _text_item("developer", "sandbox: workspace-write"),
        _text_item("user", "read the readme"),
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Reading it."}],
            "encrypted_content": "gAAAAABopaque==",
        },
        {
            "type": "function_call",
            "name": "read_file",
            "namespace": "mcp__files",
            "arguments": '{"path":"README.md"}',
            "call_id": "call_1",
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "# hubgate"},
        {"type": "custom_tool_call", "name": "apply_patch", "input": PATCH, "call_id": "call_2"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done!"},
        _text_item("user", "hi there"),
    ],
    "tools": [
        NAMESPACE,
        SHELL,
        APPLY_PATCH,
        {"type": "web_search", "external_web_access": True},
        {"type": "image_generation"},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "019a7c3e-session",
    "text": {"verbosity": "low"},
    "client_metadata": {"originator": "codex_cli_rs"},
}  # fmt: skip
CODEX_DROPPED = {
    "include",
    "prompt_cache_key",
    "client_metadata",
    "text.verbosity",
    "tools[4]:image_generation",
    "input[2].encrypted_content:reasoning",
}
CODEX_DROPPED_BY = {
    "m-openai": CODEX_DROPPED | {"tools[3]:web_search"},
    "m-anthropic": CODEX_DROPPED | {"reasoning"},  # no signed thinking to go with the tool calls
    "m-gemini": CODEX_DROPPED | {"parallel_tool_calls"},
}
FLAT = "mcp__files__read_file"


@pytest.fixture
async def codex_client(matrix_gateway: LiveGateway) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=f"{matrix_gateway.url}/v1", api_key=MATRIX_KEY, max_retries=0)
    yield client
    await client.close()


async def _codex(
    client: openai.AsyncOpenAI, model: str, stream: bool, body: dict[str, Any] = CODEX
) -> tuple[Any, list[dict[str, Any]]]:
    """(response headers, output items) of one Codex shaped call."""
    known = {k: v for k, v in body.items() if k != "client_metadata"}
    extra = {"client_metadata": body["client_metadata"]}
    if not stream:
        raw = await client.responses.with_raw_response.create(model=model, extra_body=extra, **known)
        answer = json.loads(raw.content)
        return raw.headers, answer["output"]
    async with client.responses.with_streaming_response.create(
        model=model, stream=True, extra_body=extra, **known
    ) as response:
        events = sse_events((await response.read()).decode())
        done = [data["item"] for name, data in events if name == "response.output_item.done"]
        completed = [data for name, data in events if name == "response.completed"]
        assert completed and [i["id"] for i in completed[0]["response"]["output"]] == [i["id"] for i in done]
        return response.headers, done


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_codex_body_to_a_responses_channel_passes_through(
    stream: bool, codex_client: openai.AsyncOpenAI, upstreams: Upstreams
) -> None:
    mark = len(upstreams.responses.requests)
    upstreams.responses.issued.add("gAAAAABopaque==")  # as if this upstream had issued it
    headers, output = await _codex(codex_client, "m-responses", stream)
    assert HEADER not in headers
    assert output[-1]["content"][0]["text"] == "Hello! You said: hi there"
    sent = last_sent(upstreams.responses, mark, "/responses")
    assert sent["tools"] == CODEX["tools"] and sent["input"] == CODEX["input"]
    assert (
        sent["include"] == ["reasoning.encrypted_content"]
        and sent["prompt_cache_key"] == CODEX["prompt_cache_key"]
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["m-openai", "m-anthropic", "m-gemini"])
async def test_codex_body_to_other_formats_is_mapped_and_drops_are_named(
    model: str, stream: bool, codex_client: openai.AsyncOpenAI, upstreams: Upstreams
) -> None:
    fake = {"m-openai": upstreams.openai, "m-anthropic": upstreams.anthropic, "m-gemini": upstreams.gemini}[
        model
    ]
    mark = len(fake.requests)
    headers, output = await _codex(codex_client, model, stream)
    assert dropped(headers) == CODEX_DROPPED_BY[model]
    assert output[-1]["type"] == "message" and output[-1]["content"][0]["text"]
    sent = last_sent(fake, mark, "" if model == "m-gemini" else "/")
    if model == "m-openai":
        assert [t["function"]["name"] for t in sent["tools"]] == [FLAT, "shell", "apply_patch"]
        assert sent["tools"][2]["function"]["parameters"]["required"] == ["input"]
        assert "lark grammar" in sent["tools"][2]["function"]["description"]
        calls = [c for m in sent["messages"] if m.get("tool_calls") for c in m["tool_calls"]]
        assert [c["function"]["name"] for c in calls] == [FLAT, "apply_patch"]
        assert json.loads(calls[1]["function"]["arguments"]) == {"input": PATCH}
        assert sent["messages"][0]["role"] == "system" and "sandbox" in sent["messages"][0]["content"]
        assert "gAAAAABopaque==" not in json.dumps(sent)
    elif model == "m-anthropic":
        assert [t.get("name") for t in sent["tools"]] == [FLAT, "shell", "apply_patch", "web_search"]
        assert sent["tools"][-1]["type"] == "web_search_20250305"
        uses = [
            b
            for m in sent["messages"]
            for b in m["content"]
            if isinstance(b, dict) and b["type"] == "tool_use"
        ]
        assert [(u["name"], u["input"]) for u in uses] == [
            (FLAT, {"path": "README.md"}),
            ("apply_patch", {"input": PATCH}),
        ]
        assert "gAAAAABopaque==" not in json.dumps(sent)
    else:
        names = [d["name"] for d in sent["tools"][0]["functionDeclarations"]]
        assert names == [FLAT, "shell", "apply_patch"] and {"googleSearch": {}} in sent["tools"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["m-openai-tool", "m-anthropic-tool", "m-gemini-tool"])
async def test_a_namespaced_call_comes_back_with_its_name_and_namespace(
    model: str, stream: bool, codex_client: openai.AsyncOpenAI
) -> None:
    _, output = await _codex(codex_client, model, stream, dict(CODEX, input=CODEX["input"][:2]))
    calls = [item for item in output if item["type"] == "function_call"]
    assert [(c["name"], c["namespace"]) for c in calls] == [("read_file", "mcp__files")]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "celsius"}  # what the fakes send


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["m-openai-tool", "m-anthropic-tool", "m-gemini-tool"])
async def test_a_custom_tool_call_comes_back_as_a_custom_tool_call(
    model: str, stream: bool, codex_client: openai.AsyncOpenAI
) -> None:
    body = dict(CODEX, input=CODEX["input"][:2], tools=[APPLY_PATCH, NAMESPACE, SHELL])
    _, output = await _codex(codex_client, model, stream, body)
    calls = [item for item in output if item["type"] in ("custom_tool_call", "function_call")]
    assert [(c["type"], c["name"]) for c in calls] == [("custom_tool_call", "apply_patch")]
    assert isinstance(calls[0]["input"], str) and calls[0]["call_id"]
