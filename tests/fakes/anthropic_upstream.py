"""A fake Anthropic Messages API upstream that speaks the real wire format.

Hubgate channels (and the official ``anthropic`` SDK, with ``base_url=fake.base_url``) point
at :class:`FakeAnthropic` instead of api.anthropic.com. It checks requests the way the real
API does where a codec could get it wrong: the key (``x-api-key``, or ``Authorization: Bearer``
as anthropic SDK 2.x sends it) and ``anthropic-version`` headers,
required ``max_tokens``, empty text blocks, tool_use / tool_result pairing, thinking rules
and signatures. Consecutive same-role turns are merged, as the real API now does; ``system``
messages among the turns (Claude Code sends them) are taken, text only.

Behaviour is chosen by the request's ``model``:

* ``fail-500`` / ``fail-429`` (``retry-after: 1``) / ``fail-400`` / ``overloaded`` (529):
  errors in Anthropic's shape.
* ``slow-stream``: streams one text delta every 0.5 s after the first (for disconnect tests).
* ``stream-error``: streams one text delta, then an ``overloaded_error`` ``error`` event.
* ``tool`` (with ``tools``), or any model whose ``tool_choice`` forces a tool: one tool_use
  block with input ``{"city": "Paris", "unit": "celsius"}`` (streamed in several fragments).
* ``cached-*``: half the input is reported as ``cache_read_input_tokens``;
  ``cache-write*``: half as ``cache_creation_input_tokens``.
* ``agent``: the scripted coding agent of :mod:`tests.fakes.agent` (calls the client's shell tool).
* anything else: ``"Hello! You said: <last user text>"``.

With ``thinking`` enabled (or adaptive) the answer starts with a thinking block
("Let me think about that.") signed by this instance; thinking blocks sent back are
verified against that signature (400 otherwise), which proves they round-tripped intact.
``stop_sequences`` and ``max_tokens`` cut the reply as the real API would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from . import _text, agent
from ._server import PARSED, Recorded, Reject, StreamingFakeServer, json_response, sse_response

__all__ = ["DEFAULT_API_KEY", "THINKING_TEXT", "TOOL_INPUT", "FakeAnthropic", "Recorded"]

JSONDict = dict[str, Any]

DEFAULT_API_KEY = "sk-ant-upstream-test"
THINKING_TEXT = "Let me think about that."
TOOL_INPUT = {"city": "Paris", "unit": "celsius"}
SLOW_STREAM_TICKS = 20
SLOW_STREAM_INTERVAL_S = 0.5
MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5-20251001", "claude-opus-4-7")
DOCS = (
    "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)

_ALNUM = string.ascii_letters + string.digits
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
_ASSISTANT_BLOCKS = frozenset({"text", "thinking", "redacted_thinking", "tool_use"})


# ---------------------------------------------------------------------------------------------------------
# small helpers


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _request_id() -> str:
    return f"req_011C{_rand(20)}"


def _error(
    status: int, message: str, type_: str = "invalid_request_error", headers: dict[str, str] | None = None
) -> web.Response:
    """Anthropic's error shape; its `request_id` is also the `request-id` header."""
    request_id = _request_id()
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    return json_response(body, status, {"request-id": request_id, **(headers or {})})


def _bad(message: str) -> Reject:
    return Reject(_error(400, message))


def _block_text(block: JSONDict) -> str:
    """The text a user-side block contributes (text blocks, and text inside tool results)."""
    if block.get("type") == "text":
        return str(block.get("text", ""))
    if block.get("type") == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(
                _block_text(b) for b in content if isinstance(b, dict) and b.get("type") == "text"
            )
    return ""


# ---------------------------------------------------------------------------------------------------------
# the server


_SERVER_TOOL = re.compile(r"[a-z_]+_\d{8}")


class FakeAnthropic(StreamingFakeServer):
    """An Anthropic Messages API upstream on 127.0.0.1, run as an async context manager."""

    base_path = ""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self._secret = secrets.token_bytes(32)

    def routes(self, app: web.Application) -> None:
        app.on_response_prepare.append(self._add_headers)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model_id}", self._model)

    def sign(self, thinking: str) -> str:
        """The signature this instance gives a thinking text (and accepts back)."""
        digest = hmac.new(self._secret, thinking.encode(), hashlib.sha256).digest()
        return base64.b64encode(b"fake-anthropic-signature:" + digest).decode()

    # -- hooks -----------------------------------------------------------------------------------------

    @staticmethod
    async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("request-id", _request_id())
        response.headers.setdefault("anthropic-organization-id", "00000000-0000-4000-8000-000000000000")

    # -- common request handling -----------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> None:
        """`x-api-key` (what hubgate sends), or `Authorization: Bearer` (what anthropic SDK 2.x sends)."""
        key = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if not key and auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
        if not key:
            raise Reject(_error(401, "x-api-key header is required", "authentication_error"))
        if key != self.api_key:
            raise Reject(_error(401, "invalid x-api-key", "authentication_error"))
        if not request.headers.get("anthropic-version"):
            raise _bad("anthropic-version: header is required")

    def _body(self, request: web.Request) -> JSONDict:
        self._authenticate(request)
        ok, body = request[PARSED]
        if not ok or not isinstance(body, dict):
            raise _bad(
                "There was an issue with the format or content of your request: body is not a JSON object"
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _bad("model: Field required")
        if model == "fail-500":
            raise Reject(_error(500, "Internal server error", "api_error"))
        if model == "fail-429":
            raise Reject(
                _error(
                    429,
                    "This request would exceed the rate limit for your organization of 50 requests per "
                    "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
                    "rate_limit_error",
                    headers={
                        "retry-after": "1",
                        "anthropic-ratelimit-requests-limit": "50",
                        "anthropic-ratelimit-requests-remaining": "0",
                    },
                )
            )
        if model == "fail-400":
            raise _bad("prompt is too long: 215000 tokens > 200000 maximum")
        if model == "overloaded":
            raise Reject(_error(529, "Overloaded", "overloaded_error"))
        return body

    # -- request validation ----------------------------------------------------------------------------

    def _turns(self, body: JSONDict) -> list[tuple[str, list[JSONDict]]]:
        """Validated messages, consecutive same-role turns merged (as the real API does)."""
        messages = body.get("messages")
        if messages is None:
            raise _bad("messages: Field required")
        if not isinstance(messages, list) or not messages:
            raise _bad("messages: at least one message is required")
        turns: list[tuple[str, list[JSONDict]]] = []
        for i, message in enumerate(messages):
            if isinstance(message, dict) and message.get("role") == "system":
                self._check_system_message(message, i)
                continue
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise _bad(f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'")
            role = str(message["role"])
            content = message.get("content")
            last = i == len(messages) - 1 and role == "assistant"
            if isinstance(content, str):
                content = [{"type": "text", "text": content}] if content else []
            if not isinstance(content, list) or (not content and not last):
                raise _bad(
                    f"messages.{i}: all messages must have non-empty content except for the optional "
                    "final assistant message"
                )
            for j, block in enumerate(content):
                self._check_block(block, role, f"messages.{i}.content.{j}")
            if turns and turns[-1][0] == role:
                turns[-1][1].extend(content)
            else:
                turns.append((role, list(content)))
        self._check_tool_pairs(turns)
        return turns

    @staticmethod
    def _check_system_message(message: JSONDict, i: int) -> None:
        """A ``system`` message among the turns (Claude Code sends them): text only, not empty."""
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            raise _bad(f"messages.{i}: system messages must have non-empty content")
        for j, block in enumerate(blocks):
            if not isinstance(block, dict) or block.get("type") != "text" or not block.get("text"):
                raise _bad(f"messages.{i}.content.{j}: system messages take non-empty text blocks only")

    def _check_block(self, block: Any, role: str, path: str) -> None:
        kind = block.get("type") if isinstance(block, dict) else None
        allowed = _ASSISTANT_BLOCKS if role == "assistant" else _USER_BLOCKS
        if kind not in allowed:
            raise _bad(f"{path}.type: Input tag '{kind}' found using 'type' is not valid in {role} messages")
        assert isinstance(block, dict)
        if kind == "text" and not block.get("text"):
            raise _bad("messages: text content blocks must be non-empty")
        if kind == "thinking" and block.get("signature") != self.sign(str(block.get("thinking", ""))):
            raise _bad(f"{path}: Invalid `signature` in `thinking` block")
        if kind == "redacted_thinking" and not block.get("data"):
            raise _bad(f"{path}.data: Field required")
        if kind == "tool_use" and not isinstance(block.get("input"), dict):
            raise _bad(f"{path}.input: Input should be a valid dictionary")
        if kind == "tool_result":
            content = block.get("content")
            if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "text" and not b.get("text") for b in content
            ):
                raise _bad("messages: text content blocks must be non-empty")

    @staticmethod
    def _check_tool_pairs(turns: list[tuple[str, list[JSONDict]]]) -> None:
        for k, (role, blocks) in enumerate(turns):
            if role == "assistant":
                ids = [str(b["id"]) for b in blocks if b["type"] == "tool_use"]
                following = turns[k + 1][1] if k + 1 < len(turns) else []
                answered = {b.get("tool_use_id") for b in following if b["type"] == "tool_result"}
                missing = [i for i in ids if i not in answered]
                if missing:
                    raise _bad(
                        f"messages.{k}: `tool_use` ids were found without `tool_result` blocks immediately "
                        f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                        "`tool_result` block in the next message."
                    )
            else:
                previous = turns[k - 1][1] if k > 0 else []
                called = {b.get("id") for b in previous if b["type"] == "tool_use"}
                for j, block in enumerate(blocks):
                    if block["type"] == "tool_result" and block.get("tool_use_id") not in called:
                        raise _bad(
                            f"messages.{k}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                            f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                            "corresponding `tool_use` block in the previous message."
                        )

    @staticmethod
    def _check_system(body: JSONDict) -> str:
        system = body.get("system")
        if system is None or isinstance(system, str):
            return system or ""
        if not isinstance(system, list):
            raise _bad("system: Input should be a valid string or list of text blocks")
        for block in system:
            if not isinstance(block, dict) or block.get("type") != "text":
                raise _bad("system: system blocks must be text blocks")
            if not block.get("text"):
                raise _bad("system: text content blocks must be non-empty")
        return " ".join(str(b["text"]) for b in system)

    @staticmethod
    def _check_tools(body: JSONDict) -> list[JSONDict]:
        tools = body.get("tools") or []
        if not isinstance(tools, list):
            raise _bad("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if (
                isinstance(tool, dict)
                and tool.get("type") == "web_search_20250305"
                and tool.get("name") != "web_search"
            ):
                raise _bad(f"tools.{i}.web_search_20250305.name: Input should be 'web_search'")
            if isinstance(tool, dict) and _SERVER_TOOL.fullmatch(str(tool.get("type"))):
                continue  # a versioned server tool (web search, tool search...): accepted, never run here
            if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
                raise _bad(
                    f"tools.{i}: only custom tools and versioned server tools are supported by this fake"
                )
            if not isinstance(tool.get("name"), str) or not _TOOL_NAME.match(tool["name"]):
                raise _bad(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise _bad(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        choice = body.get("tool_choice")
        if choice is not None:
            if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
                raise _bad(
                    "tool_choice: Input tag found using 'type' does not match any of the expected tags"
                )
            if not tools:
                raise _bad("tool_choice: tool_choice may only be specified while providing tools")
            if choice["type"] == "tool" and choice.get("name") not in {t["name"] for t in tools}:
                raise _bad(f"tool_choice: Tool '{choice.get('name')}' not found in provided tools")
        return tools

    @staticmethod
    def _check_sampling(body: JSONDict, thinking: bool) -> None:
        temperature = body.get("temperature")
        if temperature is not None and (
            not isinstance(temperature, int | float) or not 0 <= temperature <= 1
        ):
            raise _bad("temperature: Input should be less than or equal to 1")
        if not thinking:
            return
        if temperature is not None and temperature != 1:
            raise _bad(f"`temperature` may only be set to 1 when thinking is enabled. {DOCS}")
        if body.get("top_k") is not None:
            raise _bad(f"`top_k` must be unset when thinking is enabled. {DOCS}")
        top_p = body.get("top_p")
        if top_p is not None and top_p < 0.95:
            raise _bad(
                f"`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. {DOCS}"
            )
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
            raise _bad("Thinking may not be enabled when tool_choice forces tool use.")

    @staticmethod
    def _thinking_on(body: JSONDict, max_tokens: int) -> bool:
        thinking = body.get("thinking")
        if thinking is None:
            return False
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind == "disabled":
            return False
        if kind == "adaptive":
            return True
        if kind != "enabled":
            raise _bad("thinking: Input tag found using 'type' does not match any of the expected tags")
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if max_tokens <= budget:
            raise _bad(f"`max_tokens` must be greater than `thinking.budget_tokens`. {DOCS}")
        return True

    @staticmethod
    def _check_thinking_turns(turns: list[tuple[str, list[JSONDict]]]) -> None:
        """With thinking on, the assistant turn before the final tool results must start with
        its thinking block (the real API's rule: the block has to be sent back)."""
        if len(turns) < 2 or not any(b["type"] == "tool_result" for b in turns[-1][1]):
            return
        role, blocks = turns[-2]
        if role == "assistant" and blocks and blocks[0]["type"] not in ("thinking", "redacted_thinking"):
            raise _bad(
                f"messages.{len(turns) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                f"but found `{blocks[0]['type']}`. When `thinking` is enabled, a final `assistant` message "
                "must start with a thinking block (preceeding the lastmost set of `tool_use` and "
                f"`tool_result` blocks). We recommend you include thinking blocks from previous turns. {DOCS}"
            )

    def _input_tokens(self, body: JSONDict, turns: list[tuple[str, list[JSONDict]]]) -> int:
        system = self._check_system(body)
        tools = self._check_tools(body)
        words = _text.words(system) + sum(
            _text.words(f"{t['name']} {t.get('description', '')}") for t in tools
        )
        for _, blocks in turns:
            words += 3 + sum(_text.words(_block_text(b)) if b["type"] != "image" else 50 for b in blocks)
        return words

    # -- /v1/messages ----------------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        model = str(body["model"])
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise _bad("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
            raise _bad("max_tokens: Input should be a valid integer greater than or equal to 0")
        turns = self._turns(body)
        input_tokens = self._input_tokens(body, turns)
        thinking = self._thinking_on(body, max_tokens)
        self._check_sampling(body, thinking)
        if thinking:
            self._check_thinking_turns(turns)
        stops = body.get("stop_sequences") or []
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _bad("stop_sequences: Input should be a valid list of strings")
        fmt = (body.get("output_config") or {}).get("format")
        if fmt is not None and (fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict)):
            raise _bad("output_config.format: Input should be a json_schema format with a schema object")

        content, stop_reason, stop_sequence, output_tokens = self._answer(body, turns, thinking, max_tokens)
        usage = self._usage(model, input_tokens, output_tokens)
        message_id = f"msg_01{_rand(22)}"
        if body.get("stream") is not True:
            return json_response(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": content,
                    "stop_reason": stop_reason,
                    "stop_sequence": stop_sequence,
                    "stop_details": None,
                    "usage": usage,
                }
            )
        events = self._stream_events(message_id, model, content, usage)
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": stop_reason,
                        "stop_sequence": stop_sequence,
                        "stop_details": None,
                    },
                    "usage": {
                        k: usage[k]
                        for k in (
                            "input_tokens",
                            "cache_creation_input_tokens",
                            "cache_read_input_tokens",
                            "output_tokens",
                        )
                    },
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        if model == "stream-error":
            events = [
                *events[:4],
                ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ]
        delay: Callable[[int], float] = lambda _: 0.0  # noqa: E731
        if model == "slow-stream":
            # message_start, block start, ping and the first delta at once, then one delta per tick
            delay = lambda i: SLOW_STREAM_INTERVAL_S if 4 <= i < 4 + SLOW_STREAM_TICKS else 0.0  # noqa: E731
        return await self._send_sse(request, events, delay)

    def _answer(
        self, body: JSONDict, turns: list[tuple[str, list[JSONDict]]], thinking: bool, max_tokens: int
    ) -> tuple[list[JSONDict], str, str | None, int]:
        """(content blocks, stop_reason, stop_sequence, output_tokens) for a valid request."""
        content: list[JSONDict] = []
        used = 0
        if thinking:
            content.append(
                {"type": "thinking", "thinking": THINKING_TEXT, "signature": self.sign(THINKING_TEXT)}
            )
            used += _text.words(THINKING_TEXT)
        step = agent.decide(body["model"], *agent.anthropic_view(body))
        tool, tool_input = self._tool_to_call(body), TOOL_INPUT
        if isinstance(step, agent.Call):
            tool, tool_input = step.name, step.arguments
        if tool is not None and not isinstance(step, str):
            content.append(
                {"type": "tool_use", "id": f"toolu_01{_rand(22)}", "name": tool, "input": tool_input}
            )
            return content, "tool_use", None, used + _text.words(orjson.dumps(tool_input).decode())
        last_user = next((blocks for role, blocks in reversed(turns) if role == "user"), [])
        if isinstance(step, str):
            reply = step
        elif body["model"] == "slow-stream":
            reply = " ".join(["Hello!", *(f"t{i}" for i in range(1, SLOW_STREAM_TICKS + 1))])
        else:
            reply = "Hello! You said: " + " ".join(t for b in last_user if (t := _block_text(b)))
        stop_reason, stop_sequence = "end_turn", None
        hits = [(reply.find(s), s) for s in body.get("stop_sequences") or [] if s and s in reply]
        if hits:
            at, stop_sequence = min(hits)
            reply, stop_reason = reply[:at], "stop_sequence"
        pieces = _text.pieces(reply)
        if used + len(pieces) > max_tokens:
            pieces, stop_reason, stop_sequence = pieces[: max(0, max_tokens - used)], "max_tokens", None
        reply = "".join(pieces)
        if reply:
            content.append({"type": "text", "text": reply})
        return content, stop_reason, stop_sequence, used + len(pieces)

    @staticmethod
    def _tool_to_call(body: JSONDict) -> str | None:
        tools = body.get("tools") or []
        if not tools:
            return None
        choice = body.get("tool_choice") or {}
        if choice.get("type") == "tool":
            return str(choice["name"])
        if choice.get("type") == "any" or (body["model"] == "tool" and choice.get("type") != "none"):
            return str(tools[0]["name"])
        return None

    @staticmethod
    def _usage(model: str, total: int, output_tokens: int) -> JSONDict:
        read = total // 2 if model.startswith("cached-") else 0
        write = total // 2 if model.startswith("cache-write") else 0
        return {
            "input_tokens": total - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    @staticmethod
    def _stream_events(
        message_id: str, model: str, content: list[JSONDict], usage: JSONDict
    ) -> list[tuple[str, JSONDict]]:
        """message_start, then each block as start / deltas / stop, with the `ping` after the
        first block start, as the real API sends them (message_delta / message_stop not included)."""
        start_usage = {**usage, "output_tokens": 1}
        message: JSONDict = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "usage": start_usage,
        }
        events: list[tuple[str, JSONDict]] = [
            ("message_start", {"type": "message_start", "message": message})
        ]
        for index, block in enumerate(content):
            deltas: list[JSONDict]
            if block["type"] == "text":
                start: JSONDict = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": p} for p in _text.pieces(block["text"])]
            elif block["type"] == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": p} for p in _text.pieces(block["thinking"])]
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
            else:
                start = {**block, "input": {}}
                fragments = ["", *_text.split_n(orjson.dumps(block["input"]).decode(), 4)]
                deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": start},
                )
            )
            if index == 0:
                events.append(("ping", {"type": "ping"}))
            for delta in deltas:
                events.append(
                    ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        return events

    async def _send_sse(
        self, request: web.Request, events: list[tuple[str, JSONDict]], delay_before: Callable[[int], float]
    ) -> web.StreamResponse:
        response = sse_response()

        async def write() -> None:
            for i, (name, payload) in enumerate(events):
                delay = delay_before(i)
                if delay > 0:
                    await asyncio.sleep(delay)
                await response.write(f"event: {name}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n")

        return await self._send_stream(request, response, write)

    # -- /v1/messages/count_tokens, /v1/models, 404 ----------------------------------------------------

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request)
        turns = self._turns(body)
        return json_response({"input_tokens": self._input_tokens(body, turns)})

    @staticmethod
    def _model_info(model_id: str) -> JSONDict:
        return {
            "type": "model",
            "id": model_id,
            "display_name": model_id.replace("-", " ").title(),
            "created_at": "2025-09-29T00:00:00Z",
            "lifecycle": "active",
            "max_input_tokens": 200000,
            "max_tokens": 64000,
        }

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        return json_response(
            {
                "data": [self._model_info(m) for m in MODELS],
                "has_more": False,
                "first_id": MODELS[0],
                "last_id": MODELS[-1],
            }
        )

    async def _model(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        model_id = request.match_info["model_id"]
        if model_id not in MODELS:
            return _error(404, f"model: {model_id}", "not_found_error")
        return json_response(self._model_info(model_id))

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _error(404, "Not Found", "not_found_error")
