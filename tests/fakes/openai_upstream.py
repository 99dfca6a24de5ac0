"""A fake OpenAI (and Azure OpenAI) upstream that speaks the real wire format.

Used by end-to-end tests: hubgate channels point at :class:`FakeOpenAI` instead of api.openai.com.

Behaviour is chosen by the request's ``model`` (for Azure: the deployment name):

* ``fail-500`` / ``fail-429`` / ``fail-400``: OpenAI-shaped errors (429 carries ``retry-after: 1``).
* ``leak-key``: 401 whose message contains the full key the request sent.
* ``bad-json``: 200 ``application/json`` whose body is not JSON.
* ``slow``: waits :attr:`FakeOpenAI.delay_s` before answering.
* ``slow-stream``: streams one chunk every 0.5 s after the first two (for disconnect tests).
* ``no-usage``: streaming never sends usage, even when ``stream_options.include_usage`` is set.
* ``tool`` (with ``tools``), or any model with a specific/required ``tool_choice``: one tool call.
* ``cached-*``: reports ``cached_tokens = prompt_tokens // 2``.
* ``agent``: the scripted coding agent of :mod:`tests.fakes.agent` (calls the client's shell tool).
* anything else: ``"Hello! You said: <last user message text>"``.

Moderations, images and audio are served by :class:`~tests.fakes.openai_media.MediaRoutes`
(``fake.media``; multipart uploads it received are in ``fake.media.uploads``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import secrets
import string
import struct
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from . import _text, agent
from ._server import PARSED, Recorded, Reject, StreamingFakeServer, json_response, sse_response
from .openai_media import MediaRoutes

__all__ = ["DEFAULT_API_KEY", "FakeOpenAI", "Recorded"]

JSONDict = dict[str, Any]

DEFAULT_API_KEY = "sk-upstream-test"
SYSTEM_FINGERPRINT = "fp_fake0c0ffee"
TOOL_ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'
SLOW_STREAM_TICKS = 20
SLOW_STREAM_INTERVAL_S = 0.5
EMBEDDING_DIMS = 8
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo-instruct", "text-embedding-3-small")

_ALNUM = string.ascii_letters + string.digits
_AZURE_FILTERS: JSONDict = {
    name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")
}


# ---------------------------------------------------------------------------------------------------------
# small helpers


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


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
    """Text of a chat message ``content``: a string or a list of content parts (text parts only)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    return ""


def _embedding(item: Any, dims: int) -> list[float]:
    """Deterministic unit vector derived from a hash of the input (exactly representable as float32)."""
    seed = orjson.dumps(item)
    raw = b""
    counter = 0
    while len(raw) < dims * 4:
        raw += hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        counter += 1
    values = [int.from_bytes(raw[i * 4 : i * 4 + 4], "little") / 2**31 - 1.0 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    packed = struct.pack(f"<{dims}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{dims}f", packed))


def _tool_name(body: JSONDict) -> str | None:
    """Name of the tool to call, or None when the request should get a text reply."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return str(fn["name"])
    if body.get("model") != "tool" and choice != "required":
        return None
    first = tools[0]
    if isinstance(first, dict):
        fn = first.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return str(fn["name"])
        if isinstance(first.get("name"), str):
            return str(first["name"])
    return "tool"


# ---------------------------------------------------------------------------------------------------------
# the server


class FakeOpenAI(StreamingFakeServer):
    """An OpenAI + Azure OpenAI upstream on 127.0.0.1, run as an async context manager.

    ``azure=True`` makes the responses look like Azure OpenAI's (``prompt_filter_results`` /
    ``content_filter_results``, and a leading streamed chunk with ``choices: []`` carrying only the
    prompt filter results). The Azure routes are served in both modes. :meth:`reset` keeps settings
    such as ``delay_s``.
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY, *, azure: bool = False) -> None:
        super().__init__()
        self.api_key = api_key
        self.azure = azure
        self.delay_s: float = 5.0
        self.media = MediaRoutes(self)

    def routes(self, app: web.Application) -> None:
        app.on_response_prepare.append(self._add_headers)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/completions", self._completions)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)
        self.media.add(app)  # moderations, images, audio

    @staticmethod
    async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("x-request-id", f"req_{secrets.token_hex(16)}")
        response.headers.setdefault("openai-version", "2020-10-01")
        response.headers.setdefault("openai-processing-ms", "7")

    # -- common request handling -----------------------------------------------------------------------

    async def _prepare(self, request: web.Request) -> tuple[JSONDict, str]:
        """Auth, parse and failure-model checks shared by the POST endpoints; returns (body, model)."""
        deployment = request.match_info.get("deployment")
        ok, body = request[PARSED]
        if deployment is not None:
            if not request.query.get("api-version"):
                raise Reject(
                    _error(400, "Missing required query parameter: 'api-version'.", param="api-version")
                )
            key = request.headers.get("api-key", "")
            model: Any = deployment
        else:
            auth = request.headers.get("Authorization", "")
            key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            model = body.get("model") if isinstance(body, dict) else None

        if model == "leak-key":
            raise Reject(
                _error(
                    401,
                    f"Incorrect API key provided: {key}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                )
            )
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
        if not ok or not isinstance(body, dict):
            raise Reject(
                _error(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
                    "contact us through our help center at help.openai.com.)",
                )
            )
        if not isinstance(model, str) or not model:
            raise Reject(_error(400, "you must provide a model parameter"))

        if model == "fail-500":
            raise Reject(
                _error(
                    500,
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                )
            )
        if model == "fail-429":
            raise Reject(
                _error(
                    429,
                    "Rate limit reached for requests",
                    "requests",
                    code="rate_limit_exceeded",
                    headers={
                        "retry-after": "1",
                        "x-ratelimit-limit-requests": "60",
                        "x-ratelimit-remaining-requests": "0",
                        "x-ratelimit-reset-requests": "1s",
                    },
                )
            )
        if model == "fail-400":
            raise Reject(
                _error(
                    400,
                    "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                    "but got an empty array instead.",
                    param="messages",
                    code="empty_array",
                )
            )
        if model == "bad-json":
            raise Reject(web.Response(body=b"<html>oops</html>", content_type="application/json"))

        stream = body.get("stream") is True
        if body.get("stream_options") is not None and not stream:
            raise Reject(
                _error(
                    400,
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    param="stream_options",
                )
            )
        if model == "slow":
            try:
                await asyncio.sleep(self.delay_s)
            except asyncio.CancelledError:
                if stream:
                    self._note_disconnect()
                raise
        return body, model

    def _stream_flags(self, body: JSONDict, model: str) -> tuple[bool, bool]:
        """(include_usage, obfuscation) for a streaming request."""
        options = body.get("stream_options")
        options = options if isinstance(options, dict) else {}
        include_usage = options.get("include_usage") is True and model != "no-usage"
        obfuscation = not self.azure and options.get("include_obfuscation") is not False
        return include_usage, obfuscation

    async def _send_sse(
        self,
        request: web.Request,
        chunks: list[JSONDict],
        *,
        include_usage: bool,
        obfuscation: bool,
        delay_before: Callable[[int], float] = lambda _: 0.0,
    ) -> web.StreamResponse:
        """Send ``chunks`` as SSE ``data:`` events followed by ``data: [DONE]``."""
        response = sse_response()

        async def write() -> None:
            for i, chunk in enumerate(chunks):
                delay = delay_before(i)
                if delay > 0:
                    await asyncio.sleep(delay)
                if include_usage and "usage" not in chunk:
                    chunk["usage"] = None
                if obfuscation:
                    chunk["obfuscation"] = _rand(1 + secrets.randbelow(12))
                await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await response.write(b"data: [DONE]\n\n")

        return await self._send_stream(request, response, write)

    # -- /chat/completions -----------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, model = await self._prepare(request)
        messages = body.get("messages")
        if messages is None:
            return _error(
                400,
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            return _error(
                400,
                "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                "but got an empty array instead.",
                param="messages",
                code="empty_array",
            )

        texts = [_content_text(m.get("content")) if isinstance(m, dict) else "" for m in messages]
        last_user = ""
        for m, text in zip(messages, texts, strict=True):
            if isinstance(m, dict) and m.get("role") == "user":
                last_user = text
        prompt_tokens = sum(_text.words(t) for t in texts) + 3 * len(messages)

        tool_name = _tool_name(body)
        if model == "slow-stream":
            reply = " ".join(["Hello!", *(f"t{i}" for i in range(1, SLOW_STREAM_TICKS + 1))])
        else:
            reply = f"Hello! You said: {last_user}"
        arguments = TOOL_ARGUMENTS
        step = agent.decide(model, *agent.chat_view(body))
        if isinstance(step, agent.Call):
            tool_name, arguments = step.name, step.arguments_json
        elif isinstance(step, str):
            tool_name, reply = None, step
        completion_tokens = _text.words(arguments if tool_name else reply)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {
                "cached_tokens": prompt_tokens // 2 if model.startswith("cached-") else 0,
                "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        tool_call = (
            {
                "id": f"call_{_rand(24)}",
                "type": "function",
                "function": {"name": tool_name, "arguments": arguments},
            }
            if tool_name
            else None
        )
        finish_reason = "tool_calls" if tool_call else "stop"
        completion_id = f"chatcmpl-{_rand(29)}"
        created = int(time.time())

        if body.get("stream") is not True:
            message: JSONDict = {"role": "assistant", "content": None if tool_call else reply}
            if tool_call:
                message["tool_calls"] = [tool_call]
            message["refusal"] = None
            message["annotations"] = []
            choice: JSONDict = {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            result: JSONDict = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
            }
            if self.azure:
                choice["content_filter_results"] = _AZURE_FILTERS
                result["prompt_filter_results"] = [
                    {"prompt_index": 0, "content_filter_results": _AZURE_FILTERS}
                ]
            result |= {
                "choices": [choice],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
            return json_response(result)

        include_usage, obfuscation = self._stream_flags(body, model)

        def chunk(delta: JSONDict, finish: str | None = None, filters: JSONDict | None = None) -> JSONDict:
            choice: JSONDict = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            if self.azure:
                choice["content_filter_results"] = filters if filters is not None else {}
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": [choice],
            }

        chunks: list[JSONDict] = []
        if self.azure:
            chunks.append(
                {
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "object": "",
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _AZURE_FILTERS}],
                }
            )
        if tool_call:
            first_call = {
                "index": 0,
                "id": tool_call["id"],
                "type": "function",
                "function": {"name": tool_name, "arguments": ""},
            }
            chunks.append(
                chunk({"role": "assistant", "content": None, "tool_calls": [first_call], "refusal": None})
            )
            for fragment in _text.split_n(arguments, 4):
                chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}))
        else:
            chunks.append(chunk({"role": "assistant", "content": "", "refusal": None}))
            for piece in _text.pieces(reply):
                chunks.append(chunk({"content": piece}, filters=_AZURE_FILTERS))
        chunks.append(chunk({}, finish_reason))
        if include_usage:
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = usage
            chunks.append(usage_chunk)

        delay_before: Callable[[int], float] = lambda _: 0.0  # noqa: E731
        if model == "slow-stream":
            # role chunk + first content chunk go out at once, then one chunk every 0.5 s
            immediate = 3 if self.azure else 2
            last_tick = immediate + SLOW_STREAM_TICKS
            delay_before = lambda i: SLOW_STREAM_INTERVAL_S if immediate <= i < last_tick else 0.0  # noqa: E731
        return await self._send_sse(
            request, chunks, include_usage=include_usage, obfuscation=obfuscation, delay_before=delay_before
        )

    # -- /completions ----------------------------------------------------------------------------------

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body, model = await self._prepare(request)
        prompt = body.get("prompt")
        prompts: list[str | list[int]]
        if isinstance(prompt, str):
            prompts = [prompt]
        elif isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
            prompts = [list(prompt)]
        elif (
            isinstance(prompt, list)
            and prompt
            and all(
                isinstance(p, str) or (isinstance(p, list) and all(isinstance(t, int) for t in p))
                for p in prompt
            )
        ):
            prompts = list(prompt)
        elif prompt is None:
            return _error(
                400,
                "Missing required parameter: 'prompt'.",
                param="prompt",
                code="missing_required_parameter",
            )
        else:
            return _error(400, "Invalid value for 'prompt'.", param="prompt", code="invalid_value")

        replies: list[str] = []
        prompt_tokens = 0
        for p in prompts:
            if isinstance(p, str):
                replies.append(f"Hello! You said: {p}")
                prompt_tokens += _text.words(p)
            else:
                replies.append(f"Hello! You sent {len(p)} tokens.")
                prompt_tokens += len(p)
        completion_tokens = sum(_text.words(r) for r in replies)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = f"cmpl-{_rand(29)}"
        created = int(time.time())

        def choice(index: int, text: str, finish: str | None) -> JSONDict:
            c: JSONDict = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
            if self.azure:
                c["content_filter_results"] = _AZURE_FILTERS if text else {}
            return c

        def envelope(choices: list[JSONDict]) -> JSONDict:
            return {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": choices,
            }

        if body.get("stream") is not True:
            result = envelope([choice(i, r, "stop") for i, r in enumerate(replies)])
            if self.azure:
                result["prompt_filter_results"] = [
                    {"prompt_index": i, "content_filter_results": _AZURE_FILTERS} for i in range(len(prompts))
                ]
            result["usage"] = usage
            return json_response(result)

        include_usage, obfuscation = self._stream_flags(body, model)
        chunks: list[JSONDict] = []
        if self.azure:
            chunks.append(
                {
                    "id": "",
                    "object": "",
                    "created": 0,
                    "model": "",
                    "choices": [],
                    "prompt_filter_results": [
                        {"prompt_index": i, "content_filter_results": _AZURE_FILTERS}
                        for i in range(len(prompts))
                    ],
                }
            )
        for index, reply in enumerate(replies):
            for piece in _text.pieces(reply):
                chunks.append(envelope([choice(index, piece, None)]))
            chunks.append(envelope([choice(index, "", "stop")]))
        if include_usage:
            usage_chunk = envelope([])
            usage_chunk["usage"] = usage
            chunks.append(usage_chunk)
        return await self._send_sse(request, chunks, include_usage=include_usage, obfuscation=obfuscation)

    # -- /embeddings -----------------------------------------------------------------------------------

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body, model = await self._prepare(request)
        raw_input = body.get("input")
        invalid = _error(
            400,
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        )
        items: list[str | list[int]]
        if isinstance(raw_input, str) and raw_input:
            items = [raw_input]
        elif isinstance(raw_input, list) and raw_input and all(isinstance(t, int) for t in raw_input):
            items = [list(raw_input)]
        elif (
            isinstance(raw_input, list)
            and raw_input
            and all(
                (isinstance(p, str) and p)
                or (isinstance(p, list) and p and all(isinstance(t, int) for t in p))
                for p in raw_input
            )
        ):
            items = list(raw_input)
        elif raw_input is None:
            return _error(
                400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
            )
        else:
            return invalid

        dims = body.get("dimensions", EMBEDDING_DIMS)
        if dims is None:
            dims = EMBEDDING_DIMS
        if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
            return _error(400, "Invalid value for 'dimensions'.", param="dimensions", code="invalid_value")
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            return _error(
                400,
                f"Invalid value for 'encoding_format': '{encoding}'. "
                "Supported values are: 'float' and 'base64'.",
                param="encoding_format",
                code="invalid_value",
            )

        data: list[JSONDict] = []
        prompt_tokens = 0
        for index, item in enumerate(items):
            vector = _embedding(item, dims)
            embedding: list[float] | str = vector
            if encoding == "base64":
                embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": embedding})
            prompt_tokens += _text.words(item) if isinstance(item, str) else len(item)
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
            }
        )

    # -- /models and 404 -------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if key != self.api_key:
            return _error(
                401,
                f"Incorrect API key provided: {_text.mask_key(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        return json_response(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 1700000000, "owned_by": "system"}
                    for name in MODELS
                ],
            }
        )

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _error(404, f"Invalid URL ({request.method} {request.path})")
