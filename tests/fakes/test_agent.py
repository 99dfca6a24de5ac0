"""The fakes' scripted agent model: which tool it calls, with which arguments, and its final answer."""

from __future__ import annotations

import json

import openai

from tests.fakes import agent
from tests.fakes.agent import FINAL, Call, Tool
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI

BASH = Tool(
    "Bash",
    {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
        "required": ["command"],
    },
)
EXEC = Tool(
    "exec_command",
    {
        "type": "object",
        "properties": {"cmd": {"type": "string"}, "sandbox_permissions": {"type": "string"}},
        "required": ["cmd"],
        "additionalProperties": False,
    },
)
ARGV_SHELL = Tool(
    "shell",
    {
        "type": "OBJECT",
        "properties": {
            "command": {"type": "ARRAY", "items": {"type": "STRING"}},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "retries": {"type": ["integer", "null"]},
        },
        "required": ["command", "mode", "retries"],
    },
)
ASK = [("user", "please [[run: cat token.txt]] now")]


def test_only_the_agent_model_is_scripted() -> None:
    assert agent.decide("gpt-4o", [BASH], ASK) is None


def test_calls_the_offered_shell_tool_with_arguments_from_its_schema() -> None:
    other = Tool("Read", {"type": "object", "properties": {"file_path": {"type": "string"}}})
    assert agent.decide("agent", [other, BASH], ASK) == Call("Bash", {"command": "cat token.txt"})
    assert agent.decide("agent", [EXEC], ASK) == Call("exec_command", {"cmd": "cat token.txt"})
    assert agent.decide("agent", [ARGV_SHELL], ASK) == Call(
        "shell", {"command": ["bash", "-lc", "cat token.txt"], "mode": "fast", "retries": 1}
    )


def test_no_directive_or_no_shell_tool_leaves_the_usual_answer() -> None:
    assert agent.decide("agent", [BASH], [("user", "hello")]) is None
    assert agent.decide("agent", [Tool("Read")], ASK) is None
    assert agent.decide("agent", [], ASK) is None


def test_answers_with_the_tool_output_after_the_call() -> None:
    turns = [*ASK, ("assistant", ""), ("tool", "tok-123"), ("user", "<system-reminder>x</system-reminder>")]
    assert agent.decide("agent", [BASH], turns) == f"{FINAL} tok-123"
    # a tool result before the model's last turn is history, not this turn's result
    assert agent.decide("agent", [BASH], [*turns, ("assistant", "done")]) == Call(
        "Bash", {"command": "cat token.txt"}
    )


def test_views_of_each_wire_format() -> None:
    schema = {"type": "object", "properties": {"command": {"type": "string"}}}
    chat = {
        "tools": [{"type": "function", "function": {"name": "Bash", "parameters": schema}}],
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "tool", "tool_call_id": "c", "content": "out"},
        ],
    }
    assert agent.chat_view(chat) == (
        [Tool("Bash", schema)],
        [("user", "hi"), ("assistant", ""), ("tool", "out")],
    )
    anthropic = {
        "tools": [{"name": "Bash", "input_schema": schema}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "reminder"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "out"},
                                         {"type": "text", "text": "more"}]},
        ],
    }  # fmt: skip
    assert agent.anthropic_view(anthropic)[1] == [
        ("user", "hi"),
        ("assistant", ""),
        ("tool", "out"),
        ("user", "more"),
    ]
    gemini = {
        "tools": [{"functionDeclarations": [{"name": "run_shell_command", "parametersJsonSchema": schema}]}],
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "run_shell_command", "args": {}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "run_shell_command", "response": {"o": 1}}}],
            },
        ],
    }
    tools, turns = agent.gemini_view(gemini)
    assert tools == [Tool("run_shell_command", schema)]
    assert turns == [
        ("user", "hi"),
        ("assistant", ""),
        ("tool", '{"name":"run_shell_command","response":{"o":1}}'),
    ]
    responses = {
        "tools": [{"type": "function", "name": "exec_command", "parameters": schema}, {"type": "web_search"}],
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c", "name": "exec_command", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "out"},
        ],
    }
    assert agent.responses_view(responses) == (
        [Tool("exec_command", schema)],
        [("user", "hi"), ("assistant", ""), ("tool", "out")],
    )


async def test_a_streamed_chat_round_trip_through_the_fake() -> None:
    tools = [{"type": "function", "function": {"name": "Bash", "parameters": BASH.schema}}]
    async with FakeOpenAI() as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)
        messages: list[dict[str, object]] = [{"role": "user", "content": ASK[0][1]}]
        stream = await client.chat.completions.create(
            model="agent",
            messages=messages,
            tools=tools,
            stream=True,  # type: ignore[arg-type]
        )
        name, arguments, call_id = "", "", ""
        async for chunk in stream:
            for call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                name += call.function.name or "" if call.function else ""
                arguments += call.function.arguments or "" if call.function else ""
                call_id = call.id or call_id
        assert (name, json.loads(arguments)) == ("Bash", {"command": "cat token.txt"})
        function = {"name": name, "arguments": arguments}
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function", "function": function}],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "tok-42"},
        ]
        answer = await client.chat.completions.create(model="agent", messages=messages, tools=tools)  # type: ignore[arg-type]
        assert answer.choices[0].message.content == f"{FINAL} tok-42"


async def test_the_anthropic_fake_takes_system_messages_among_the_turns() -> None:
    import anthropic

    async with FakeAnthropic() as fake:
        client = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)
        message = await client.messages.create(
            model="agent",
            max_tokens=100,
            tools=[{"name": "Bash", "input_schema": BASH.schema}],  # type: ignore[list-item,typeddict-item]
            messages=[
                {"role": "user", "content": ASK[0][1]},
                {"role": "system", "content": [{"type": "text", "text": "a reminder"}]},  # type: ignore[list-item,typeddict-item]
            ],
        )
        assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
            ("tool_use", {"command": "cat token.txt"})
        ]
