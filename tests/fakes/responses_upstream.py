"""A fake OpenAI Responses API upstream (``POST /v1/responses``) that speaks the real wire format.

Used by tests: hubgate channels (or the Responses codec) point at :class:`FakeResponses` instead of
api.openai.com. JSON answers are full ``response`` objects; streams are the real semantic event
sequence (``event: response.created`` ... ``event: response.completed``, each ``data`` carrying ``type``
and a monotonically increasing ``sequence_number``, no ``[DONE]``).

Behaviour is chosen by the request's ``model`` and fields:

* anything else: one message ``"Hello! You said: <last user text>"``.
* ``tool`` (with ``tools``), or any model with ``tool_choice`` ``required`` / ``{"type": "function"}``:
  one ``function_call`` item with arguments ``{"city": "Paris", "unit": "celsius"}`` (streamed as
  several argument deltas).
* ``reasoning`` given (effort other than ``none``): a ``reasoning`` item first, with a summary, and
  with ``encrypted_content`` when ``include`` has ``reasoning.encrypted_content``. An input reasoning
  item whose ``encrypted_content`` this fake did not issue is refused with 400; one without encrypted
  content is refused with 404 (items are not persisted under ``store: false``).
* ``max_output_tokens`` below the reply's word count: the reply is cut, status ``incomplete``.
* ``fail-500`` / ``fail-429``: OpenAI-shaped errors (429 carries ``retry-after: 1``).
* ``slow-stream``: streams one text delta every 0.5 s after the first (for disconnect tests).
* ``cached-*``: reports ``cached_tokens = input_tokens // 2``.
* ``agent``: the scripted coding agent of :mod:`tests.fakes.agent` (calls the client's shell tool).

Responses created with ``store`` not false are kept, so ``previous_response_id`` resolves (and an
unknown one is a 400).
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from . import _text, agent
from ._server import PARSED, Recorded, Reject, StreamingFakeServer, json_response, sse_response

__all__ = ["DEFAULT_API_KEY", "TOOL_ARGUMENTS", "FakeResponses", "Recorded"]

JSONDict = dict[str, Any]

DEFAULT_API_KEY = "sk-responses-upstream-test"
TOOL_ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'
ENCRYPTED_INCLUDE = "reasoning.encrypted_content"
SLOW_STREAM_TICKS = 20
SLOW_STREAM_INTERVAL_S = 0.5

_ALNUM = string.ascii_letters + string.digits
_INCLUDABLE = frozenset(
    {
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    }
)


# ---------------------------------------------------------------------------------------------------------
# small helpers


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _hex_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(25)}"


def _error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json_response(body, status, headers)


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of parts (text parts only)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text"))
            for part in content
            if isinstance(part, dict)
            and part.get("type") in ("input_text", "output_text")
            and isinstance(part.get("text"), str)
        )
    return ""


def _input_items(body: JSONDict) -> list[Any]:
    value = body.get("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return value if isinstance(value, list) else []


def _item_type(item: JSONDict) -> str:
    kind = item.get("type")
    if kind is None:
        return "message" if "role" in item else "item_reference"
    return str(kind)


def _tool_name(body: JSONDict) -> str | None:
    """Name of the function to call, or None when the request gets a text reply."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    if body.get("model") != "tool" and choice != "required":
        return None
    names = [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
    return names[0] if names else None


@dataclass
class _Plan:
    """What the fake will answer: the output items and their token counts."""

    reasoning: str | None = None  # summary text
    encrypted: str | None = None
    text: str | None = None
    tool_name: str | None = None
    arguments: str = TOOL_ARGUMENTS
    incomplete: bool = False
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    ids: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# the server


class FakeResponses(StreamingFakeServer):
    """An OpenAI Responses API upstream on 127.0.0.1, run as an async context manager.

    :meth:`reset` keeps the issued reasoning and the stored responses.
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.issued: set[str] = set()  # encrypted reasoning this fake handed out
        self.stored: dict[str, JSONDict] = {}  # responses kept for previous_response_id

    def routes(self, app: web.Application) -> None:
        app.on_response_prepare.append(self._add_headers)
        app.router.add_post("/v1/responses", self._create)
        app.router.add_post("/v1/responses/compact", self._compact)

    # -- hooks -----------------------------------------------------------------------------------------

    @staticmethod
    async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("x-request-id", f"req_{secrets.token_hex(16)}")
        response.headers.setdefault("openai-version", "2020-10-01")
        response.headers.setdefault("openai-processing-ms", "7")

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _error(404, f"Invalid URL ({request.method} {request.path})")

    # -- checks ----------------------------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not key:
            raise Reject(
                _error(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
                    "field (with blank username) if you're accessing the API from your browser and are "
                    "prompted for a username and password. You can obtain an API key from "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                )
            )
        if key != self.api_key:
            raise Reject(
                _error(
                    401,
                    f"Incorrect API key provided: {_text.mask_key(key)}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                )
            )

    def _body(self, request: web.Request) -> tuple[JSONDict, str]:
        ok, body = request[PARSED]
        if not ok or not isinstance(body, dict):
            raise Reject(
                _error(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                    "sent was not valid JSON.)",
                )
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise Reject(
                _error(
                    400,
                    "Missing required parameter: 'model'.",
                    param="model",
                    code="missing_required_parameter",
                )
            )
        if model == "fail-500":
            raise Reject(
                _error(
                    500,
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                    code="server_error",
                )
            )
        if model == "fail-429":
            raise Reject(
                _error(
                    429,
                    "Rate limit reached for requests",
                    "requests",
                    code="rate_limit_exceeded",
                    headers={"retry-after": "1", "x-ratelimit-limit-requests": "60"},
                )
            )
        return body, model

    def _check_body(self, body: JSONDict) -> None:
        """The request checks the real API makes that tests rely on."""
        previous = body.get("previous_response_id")
        if previous is not None and previous not in self.stored:
            raise Reject(
                _error(
                    400,
                    f"Previous response with id '{previous}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            )
        raw = body.get("input")
        if raw is None and previous is None:
            raise Reject(
                _error(
                    400,
                    "Missing required parameter: 'input'.",
                    param="input",
                    code="missing_required_parameter",
                )
            )
        if raw is not None and not isinstance(raw, str | list):
            raise Reject(_error(400, "Invalid type for 'input'.", param="input", code="invalid_type"))
        include = body.get("include") or []
        if not isinstance(include, list):
            raise Reject(_error(400, "Invalid type for 'include'.", param="include", code="invalid_type"))
        for i, name in enumerate(include):
            if not isinstance(name, str) or name not in _INCLUDABLE:
                raise Reject(
                    _error(400, f"Invalid value: '{name}'.", param=f"include[{i}]", code="invalid_value")
                )
        tools = body.get("tools") or []
        if not isinstance(tools, list):
            raise Reject(_error(400, "Invalid type for 'tools'.", param="tools", code="invalid_type"))
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or "type" not in tool:
                raise Reject(
                    _error(400, f"Missing required parameter: 'tools[{i}].type'.", param=f"tools[{i}].type")
                )
            if tool["type"] == "function" and not isinstance(tool.get("name"), str):
                raise Reject(
                    _error(400, f"Missing required parameter: 'tools[{i}].name'.", param=f"tools[{i}].name")
                )
        self._check_items(body)

    def _check_items(self, body: JSONDict) -> None:
        calls: set[str] = set()
        previous = self.stored.get(str(body.get("previous_response_id")))
        if previous is not None:
            calls |= {o["call_id"] for o in previous["output"] if o["type"] == "function_call"}
        for i, item in enumerate(_input_items(body)):
            if not isinstance(item, dict):
                raise Reject(_error(400, f"Invalid type for 'input[{i}]'.", param=f"input[{i}]"))
            kind = _item_type(item)
            if kind == "reasoning":
                encrypted = item.get("encrypted_content")
                if encrypted is None:
                    raise Reject(self._not_persisted(item.get("id")))
                if encrypted not in self.issued:
                    raise Reject(
                        _error(
                            400,
                            f"The encrypted content for item {item.get('id')} could not be verified.",
                            code="invalid_encrypted_content",
                        )
                    )
            elif kind == "item_reference":
                raise Reject(self._not_persisted(item.get("id")))
            elif kind == "function_call":
                calls.add(str(item.get("call_id")))
            elif kind == "function_call_output" and item.get("call_id") not in calls:
                raise Reject(
                    _error(
                        400,
                        f"No tool call found for function call output with call_id {item.get('call_id')}.",
                        param="input",
                    )
                )

    @staticmethod
    def _not_persisted(item_id: Any) -> web.Response:
        return _error(
            404,
            f"Item with id '{item_id}' not found. Items are not persisted when `store` is set to false. "
            "Try again with `store` set to true, or remove this item from your input.",
            param="input",
        )

    # -- the answer ------------------------------------------------------------------------------------

    def _plan(self, body: JSONDict, model: str) -> _Plan:
        items = _input_items(body)
        texts = [_content_text(i.get("content")) for i in items if isinstance(i, dict)]
        if isinstance(body.get("instructions"), str):
            texts.append(body["instructions"])
        last_user = ""
        for item in items:
            if isinstance(item, dict) and item.get("role") == "user":
                last_user = _content_text(item.get("content"))
        plan = _Plan(input_tokens=sum(_text.words(t) for t in texts) + 3 * len(items))
        if model.startswith("cached-"):
            plan.cached_tokens = plan.input_tokens // 2
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict) and reasoning.get("effort") != "none":
            plan.reasoning = f"**Answering**\n\nThe user said: {last_user}"
            plan.reasoning_tokens = 2 * _text.words(plan.reasoning)
            if ENCRYPTED_INCLUDE in (body.get("include") or []):
                plan.encrypted = "gAAAAAB" + secrets.token_urlsafe(48)
                self.issued.add(plan.encrypted)
            plan.ids["rs"] = _hex_id("rs")
        step = agent.decide(model, *agent.responses_view(body))
        plan.tool_name = None if isinstance(step, str) else _tool_name(body)
        if isinstance(step, agent.Call):
            plan.tool_name, plan.arguments = step.name, step.arguments_json
        if plan.tool_name:
            plan.ids["fc"] = _hex_id("fc")
            plan.ids["call"] = f"call_{_rand(24)}"
            plan.output_tokens = _text.words(plan.arguments)
        else:
            if isinstance(step, str):
                text = step
            elif model == "slow-stream":
                text = " ".join(["Hello!", *(f"t{i}" for i in range(1, SLOW_STREAM_TICKS + 1))])
            else:
                text = f"Hello! You said: {last_user}"
            limit = body.get("max_output_tokens")
            if isinstance(limit, int) and _text.words(text) > limit:
                text = "".join(_text.pieces(text)[:limit])
                plan.incomplete = True
            plan.text = text
            plan.output_tokens = _text.words(text)
            plan.ids["msg"] = _hex_id("msg")
        plan.output_tokens += plan.reasoning_tokens
        return plan

    @staticmethod
    def _reasoning_item(plan: _Plan, done: bool) -> JSONDict:
        item: JSONDict = {"id": plan.ids["rs"], "type": "reasoning", "summary": []}
        if done:
            item["summary"] = [{"type": "summary_text", "text": plan.reasoning}]
            if plan.encrypted is not None:
                item["encrypted_content"] = plan.encrypted
        return item

    @staticmethod
    def _message_item(plan: _Plan, done: bool) -> JSONDict:
        status = ("incomplete" if plan.incomplete else "completed") if done else "in_progress"
        content = [_output_text(plan.text or "")] if done else []
        return {
            "id": plan.ids["msg"],
            "type": "message",
            "status": status,
            "content": content,
            "role": "assistant",
        }

    @staticmethod
    def _call_item(plan: _Plan, done: bool) -> JSONDict:
        return {
            "id": plan.ids["fc"],
            "type": "function_call",
            "status": "completed" if done else "in_progress",
            "arguments": plan.arguments if done else "",
            "call_id": plan.ids["call"],
            "name": plan.tool_name,
        }

    def _output(self, plan: _Plan) -> list[JSONDict]:
        output = [self._reasoning_item(plan, True)] if plan.reasoning is not None else []
        output.append(self._call_item(plan, True) if plan.tool_name else self._message_item(plan, True))
        return output

    @staticmethod
    def _response(
        body: JSONDict,
        model: str,
        response_id: str,
        created: int,
        status: str,
        output: list[JSONDict],
        plan: _Plan,
    ) -> JSONDict:
        reasoning = body["reasoning"] if isinstance(body.get("reasoning"), dict) else {}
        text = body["text"] if isinstance(body.get("text"), dict) else {}
        final = status in ("completed", "incomplete")
        return {
            "id": response_id,
            "object": "response",
            "created_at": created,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": None,
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": None,
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": text.get("format", {"type": "text"}), "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "top_logprobs": 0,
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": (
                {
                    "input_tokens": plan.input_tokens,
                    "input_tokens_details": {"cached_tokens": plan.cached_tokens, "cache_write_tokens": 0},
                    "output_tokens": plan.output_tokens,
                    "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
                    "total_tokens": plan.input_tokens + plan.output_tokens,
                }
                if final
                else None
            ),
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    # -- POST /v1/responses ----------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        self._authenticate(request)
        body, model = self._body(request)
        self._check_body(body)
        plan = self._plan(body, model)
        response_id = _hex_id("resp")
        created = int(time.time())
        status = "incomplete" if plan.incomplete else "completed"
        final = self._response(body, model, response_id, created, status, self._output(plan), plan)
        if body.get("store", True) is not False:
            self.stored[response_id] = final
        if body.get("stream") is not True:
            return json_response(final)
        stream_options = body.get("stream_options")
        obfuscate = not (
            isinstance(stream_options, dict) and stream_options.get("include_obfuscation") is False
        )
        in_progress = self._response(body, model, response_id, created, "in_progress", [], plan)
        events = self._events(plan, in_progress, final, obfuscate)
        return await self._send(request, events, slow=model == "slow-stream")

    async def _compact(self, request: web.Request) -> web.StreamResponse:
        """Native compaction: the user messages, then one opaque compaction item."""
        self._authenticate(request)
        body, _model = self._body(request)
        items = body.get("input")
        if not isinstance(items, list) or not items:
            return json_response(
                {"error": {"message": "input is required", "type": "invalid_request_error", "param": "input",
                           "code": None}},
                status=400,
            )  # fmt: skip
        users = [
            {"type": "message", "id": _hex_id("msg"), "role": "user", "status": "completed",
             "content": i["content"] if isinstance(i["content"], list)
             else [{"type": "input_text", "text": i["content"]}]}
            for i in items
            if isinstance(i, dict) and i.get("role") == "user"
        ]  # fmt: skip
        words = sum(len(str(i).split()) for i in items)
        return json_response(
            {
                "id": _hex_id("resp"),
                "object": "response.compaction",
                "created_at": int(time.time()),
                "output": [
                    *users,
                    {"type": "compaction", "id": _hex_id("cmp"), "encrypted_content": "gAAAA-opaque"},
                ],
                "usage": {
                    "input_tokens": words,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": 7,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": words + 7,
                },
            }
        )

    def _events(self, plan: _Plan, in_progress: JSONDict, final: JSONDict, obfuscate: bool) -> list[JSONDict]:
        """The full event sequence, without sequence numbers."""
        events: list[JSONDict] = [
            {"type": "response.created", "response": in_progress},
            {"type": "response.in_progress", "response": in_progress},
        ]

        def delta(kind: str, **fields: Any) -> JSONDict:
            event = {"type": kind, **fields}
            if obfuscate:
                event["obfuscation"] = _rand(1 + secrets.randbelow(12))
            return event

        index = 0
        if plan.reasoning is not None:
            rs = {"item_id": plan.ids["rs"], "output_index": index, "summary_index": 0}
            summary = plan.reasoning
            events += [
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": self._reasoning_item(plan, False),
                },
                {
                    "type": "response.reasoning_summary_part.added",
                    **rs,
                    "part": {"type": "summary_text", "text": ""},
                },
                *(
                    delta("response.reasoning_summary_text.delta", **rs, delta=p)
                    for p in _text.pieces(summary)
                ),
                {"type": "response.reasoning_summary_text.done", **rs, "text": summary},
                {
                    "type": "response.reasoning_summary_part.done",
                    **rs,
                    "part": {"type": "summary_text", "text": summary},
                },
                {
                    "type": "response.output_item.done",
                    "output_index": index,
                    "item": self._reasoning_item(plan, True),
                },
            ]
            index += 1
        if plan.tool_name:
            fc = {"item_id": plan.ids["fc"], "output_index": index}
            events += [
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": self._call_item(plan, False),
                },
                *(
                    delta("response.function_call_arguments.delta", **fc, delta=p)
                    for p in _text.split_n(plan.arguments, 4)
                ),
                {"type": "response.function_call_arguments.done", **fc, "arguments": plan.arguments},
                {
                    "type": "response.output_item.done",
                    "output_index": index,
                    "item": self._call_item(plan, True),
                },
            ]
        else:
            text = plan.text or ""
            msg = {"item_id": plan.ids["msg"], "output_index": index, "content_index": 0}
            events += [
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": self._message_item(plan, False),
                },
                {"type": "response.content_part.added", **msg, "part": _output_text("")},
                *(
                    delta("response.output_text.delta", **msg, delta=p, logprobs=[])
                    for p in _text.pieces(text)
                ),
                {"type": "response.output_text.done", **msg, "text": text, "logprobs": []},
                {"type": "response.content_part.done", **msg, "part": _output_text(text)},
                {
                    "type": "response.output_item.done",
                    "output_index": index,
                    "item": self._message_item(plan, True),
                },
            ]
        events.append({"type": f"response.{final['status']}", "response": final})
        return events

    async def _send(self, request: web.Request, events: list[JSONDict], *, slow: bool) -> web.StreamResponse:
        response = sse_response()

        async def write() -> None:
            text_deltas = 0
            for seq, event in enumerate(events):
                if slow and event["type"] == "response.output_text.delta":
                    text_deltas += 1
                    if text_deltas > 1:
                        await asyncio.sleep(SLOW_STREAM_INTERVAL_S)
                event["sequence_number"] = seq
                kind = str(event["type"]).encode()
                await response.write(b"event: " + kind + b"\ndata: " + orjson.dumps(event) + b"\n\n")

        return await self._send_stream(request, response, write)


def _output_text(text: str) -> JSONDict:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
