"""The four caller formats, each driven by its official SDK, behind one small interface."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from tests.conftest import MATRIX_KEY

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
}


@dataclass
class Answer:
    text: str
    input_tokens: int
    output_tokens: int


@dataclass
class ToolUse:
    name: str
    arguments: dict[str, Any]


class Caller:
    name: str

    async def text(self, model: str, prompt: str) -> Answer:
        raise NotImplementedError

    async def stream(self, model: str, prompt: str) -> Answer:
        raise NotImplementedError

    async def tool(self, model: str, stream: bool) -> ToolUse:
        raise NotImplementedError

    async def error_status(self, model: str, stream: bool) -> int:
        raise NotImplementedError


class ChatCaller(Caller):
    name = "openai-chat"

    def __init__(self, url: str) -> None:
        self.client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=MATRIX_KEY, max_retries=0)

    async def text(self, model: str, prompt: str) -> Answer:
        r = await self.client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}]
        )
        assert r.usage is not None
        return Answer(r.choices[0].message.content or "", r.usage.prompt_tokens, r.usage.completion_tokens)

    async def stream(self, model: str, prompt: str) -> Answer:
        stream = await self.client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.usage is not None:
                usage = chunk.usage
        assert usage is not None, "no usage chunk"
        return Answer(text, usage.prompt_tokens, usage.completion_tokens)

    async def tool(self, model: str, stream: bool) -> ToolUse:
        tools: Any = [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
            }
        ]
        messages: Any = [{"role": "user", "content": "weather in Paris?"}]
        if not stream:
            r = await self.client.chat.completions.create(model=model, messages=messages, tools=tools)
            assert r.choices[0].finish_reason == "tool_calls"
            call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
            return ToolUse(call.function.name, json.loads(call.function.arguments))  # type: ignore[union-attr]
        chunks = await self.client.chat.completions.create(
            model=model, messages=messages, tools=tools, stream=True
        )
        name, args, finish = "", "", None
        async for chunk in chunks:
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or []:
                    if tc.function and tc.function.name:
                        name = tc.function.name
                    if tc.function and tc.function.arguments:
                        args += tc.function.arguments
                finish = choice.finish_reason or finish
        assert finish == "tool_calls"
        return ToolUse(name, json.loads(args))

    async def error_status(self, model: str, stream: bool) -> int:
        try:
            r = await self.client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], stream=stream
            )
            if stream:
                async for _ in r:  # type: ignore[union-attr]
                    pass
        except openai.APIStatusError as exc:
            return exc.status_code
        raise AssertionError("no error")


class ResponsesCaller(Caller):
    name = "openai-responses"

    def __init__(self, url: str) -> None:
        self.client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=MATRIX_KEY, max_retries=0)

    async def text(self, model: str, prompt: str) -> Answer:
        r = await self.client.responses.create(model=model, input=prompt)
        assert r.usage is not None and r.status == "completed"
        return Answer(r.output_text, r.usage.input_tokens, r.usage.output_tokens)

    async def stream(self, model: str, prompt: str) -> Answer:
        events = await self.client.responses.create(model=model, input=prompt, stream=True)
        text, final = "", None
        async for ev in events:
            if ev.type == "response.output_text.delta":
                text += ev.delta
            elif ev.type == "response.completed":
                final = ev.response
        assert final is not None and final.usage is not None
        assert final.output_text == text
        return Answer(text, final.usage.input_tokens, final.usage.output_tokens)

    async def tool(self, model: str, stream: bool) -> ToolUse:
        tools: Any = [
            {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}
        ]
        if not stream:
            r = await self.client.responses.create(model=model, input="weather in Paris?", tools=tools)
        else:
            events = await self.client.responses.create(
                model=model, input="weather in Paris?", tools=tools, stream=True
            )
            r = None
            args = ""
            async for ev in events:
                if ev.type == "response.function_call_arguments.delta":
                    args += ev.delta
                elif ev.type == "response.completed":
                    r = ev.response
            assert r is not None
            calls = [o for o in r.output if o.type == "function_call"]
            assert json.loads(args) == json.loads(calls[0].arguments)  # type: ignore[union-attr]
        calls = [o for o in r.output if o.type == "function_call"]
        assert calls, r.output
        return ToolUse(calls[0].name, json.loads(calls[0].arguments))  # type: ignore[union-attr]

    async def error_status(self, model: str, stream: bool) -> int:
        try:
            r = await self.client.responses.create(model=model, input="hi", stream=stream)
            if stream:
                async for ev in r:  # type: ignore[union-attr]
                    if ev.type in ("response.failed", "error"):
                        return 500
        except openai.APIStatusError as exc:
            return exc.status_code
        raise AssertionError("no error")


class AnthropicCaller(Caller):
    name = "anthropic"

    def __init__(self, url: str) -> None:
        self.client = anthropic.AsyncAnthropic(base_url=url, api_key=MATRIX_KEY, max_retries=0)

    @staticmethod
    def _input(usage: Any) -> int:
        return int(
            usage.input_tokens
            + (usage.cache_read_input_tokens or 0)
            + (usage.cache_creation_input_tokens or 0)
        )

    async def text(self, model: str, prompt: str) -> Answer:
        r = await self.client.messages.create(
            model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}]
        )
        assert r.stop_reason == "end_turn"
        text = "".join(b.text for b in r.content if b.type == "text")
        return Answer(text, self._input(r.usage), r.usage.output_tokens)

    async def stream(self, model: str, prompt: str) -> Answer:
        async with self.client.messages.stream(
            model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}]
        ) as s:
            deltas = [t async for t in s.text_stream]
            msg = await s.get_final_message()
        text = "".join(b.text for b in msg.content if b.type == "text")
        assert "".join(deltas) == text
        return Answer(text, self._input(msg.usage), msg.usage.output_tokens)

    async def tool(self, model: str, stream: bool) -> ToolUse:
        tools: Any = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
        messages: Any = [{"role": "user", "content": "weather in Paris?"}]
        if stream:
            async with self.client.messages.stream(
                model=model, max_tokens=256, messages=messages, tools=tools
            ) as s:
                msg = await s.get_final_message()
        else:
            msg = await self.client.messages.create(
                model=model, max_tokens=256, messages=messages, tools=tools
            )
        assert msg.stop_reason == "tool_use"
        block = next(b for b in msg.content if b.type == "tool_use")
        return ToolUse(block.name, dict(block.input))  # type: ignore[arg-type]

    async def error_status(self, model: str, stream: bool) -> int:
        try:
            if stream:
                async with self.client.messages.stream(
                    model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
                ) as s:
                    await s.get_final_message()
            else:
                await self.client.messages.create(
                    model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
                )
        except anthropic.APIStatusError as exc:
            return exc.status_code
        raise AssertionError("no error")


class GeminiCaller(Caller):
    name = "gemini"

    def __init__(self, url: str) -> None:
        self.client = genai.Client(
            api_key=MATRIX_KEY, http_options=gtypes.HttpOptions(base_url=url, api_version="v1beta")
        )

    async def text(self, model: str, prompt: str) -> Answer:
        r = await self.client.aio.models.generate_content(model=model, contents=prompt)
        usage = r.usage_metadata
        assert usage is not None
        return Answer(r.text or "", usage.prompt_token_count or 0, usage.candidates_token_count or 0)

    async def stream(self, model: str, prompt: str) -> Answer:
        text, usage = "", None
        async for chunk in await self.client.aio.models.generate_content_stream(model=model, contents=prompt):
            text += chunk.text or ""
            usage = chunk.usage_metadata or usage
        assert usage is not None
        return Answer(text, usage.prompt_token_count or 0, usage.candidates_token_count or 0)

    async def tool(self, model: str, stream: bool) -> ToolUse:
        config = gtypes.GenerateContentConfig(
            tools=[
                gtypes.Tool(
                    function_declarations=[
                        gtypes.FunctionDeclaration(
                            name="get_weather", description="Weather", parameters_json_schema=WEATHER_SCHEMA
                        )
                    ]
                )
            ],
            automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True),
        )
        calls: list[Any] = []
        if stream:
            async for chunk in await self.client.aio.models.generate_content_stream(
                model=model, contents="weather in Paris?", config=config
            ):
                calls += chunk.function_calls or []
        else:
            r = await self.client.aio.models.generate_content(
                model=model, contents="weather in Paris?", config=config
            )
            calls = r.function_calls or []
        assert len(calls) == 1, calls
        return ToolUse(calls[0].name, dict(calls[0].args or {}))

    async def error_status(self, model: str, stream: bool) -> int:
        try:
            if stream:
                async for _ in await self.client.aio.models.generate_content_stream(
                    model=model, contents="hi"
                ):
                    pass
            else:
                await self.client.aio.models.generate_content(model=model, contents="hi")
        except genai_errors.APIError as exc:
            return int(exc.code)
        raise AssertionError("no error")


CALLERS = {c.name: c for c in (ChatCaller, ResponsesCaller, AnthropicCaller, GeminiCaller)}
