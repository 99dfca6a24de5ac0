"""A fake Gemini (Generative Language API) upstream that speaks the real wire format.

Used by end-to-end tests: hubgate channels of type ``gemini`` point at :class:`FakeGemini` instead
of generativelanguage.googleapis.com. Every method is served under ``/v1beta/`` and ``/v1/``:
``models/{model}:generateContent``, ``:streamGenerateContent`` (``?alt=sse`` or the JSON array),
``:countTokens``, ``:embedContent``, ``:batchEmbedContents``, ``GET models`` and ``GET models/{m}``.
The key comes as ``x-goog-api-key`` or ``?key=``.

Like the real API it rejects what Gemini rejects, so translation bugs show up as 400s:

* a schema key outside Gemini's OpenAPI subset in ``functionDeclarations[].parameters`` or
  ``generationConfig.responseSchema`` (``additionalProperties``, ``$ref``, ``$schema``, ``const``,
  ...) -> 400 "Invalid JSON payload received. Unknown name ...";
* an OBJECT ``parameters`` without properties -> 400 "should be non-empty for OBJECT type";
* in the current turn (after the last user content that is not only function responses), a
  functionCall whose ``thoughtSignature`` is not the one this fake issued for it (compared as bytes,
  so URL-safe re-encoding by the SDK is fine), or the first functionCall of a model step with no
  signature at all -> 400 "Function call is missing a thought_signature ..." (Gemini 3's rule).

Behaviour by model (the name in the URL):

* ``fail-500`` / ``fail-429`` / ``fail-400``: Gemini-shaped errors.
* ``slow-stream``: streams one chunk every 0.5 s after the first two (for disconnect tests).
* ``tool`` with ``tools``: one functionCall (args ``{"city": "Paris", "unit": "celsius"}``) to the
  first declared function, carrying an ``id`` and a ``thoughtSignature``; once the history ends in
  a functionResponse it answers in text instead.
* ``cached-*``: ``cachedContentTokenCount = promptTokenCount // 2``.
* ``agent``: the scripted coding agent of :mod:`tests.fakes.agent` (calls the client's shell tool).
* with ``thinkingConfig.includeThoughts``: a signed thought part first; any thinking config with a
  non-zero budget reports ``thoughtsTokenCount``.
* anything else: ``"Hello! You said: <last user text>"``, streamed word by word.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import math
import re
import secrets
import struct
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from . import _text, agent
from ._server import PARSED, Recorded, Reject, StreamingFakeServer, json_response

__all__ = [
    "DEFAULT_API_KEY",
    "SCHEMA_KEYS",
    "TOOL_ARGS",
    "FakeGemini",
    "IssuedCall",
    "Recorded",
    "schema_violations",
]

JSONDict = dict[str, Any]

DEFAULT_API_KEY = "gemini-upstream-test"
TOOL_ARGS: JSONDict = {"city": "Paris", "unit": "celsius"}
THOUGHT_TEXT = "**Considering the request**\n\nThe user wants an answer; I will give one."
THOUGHT_TOKENS = 24
SLOW_STREAM_TICKS = 20
SLOW_STREAM_INTERVAL_S = 0.5
EMBEDDING_DIMS = 8
MAX_EMBEDDING_DIMS = 3072  # gemini-embedding-001's largest output
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview", "gemini-embedding-001")

# The keys of Gemini's Schema message (either JSON spelling is accepted, like the real parser).
SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to "
    "work correctly, and missing thought_signature may lead to degraded model performance. Additional data, "
    "function call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
QUOTA_DETAILS: list[JSONDict] = [
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            }
        ],
    },
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
]
_SNAKE = re.compile(r"_([a-z])")


@dataclass
class IssuedCall:
    """A functionCall this fake answered with, and the signature it put on it."""

    id: str
    name: str
    args: JSONDict
    signature: bytes


# ---------------------------------------------------------------------------------------------------------
# helpers


_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _error(code: int, message: str, details: list[JSONDict] | None = None) -> web.Response:
    error: JSONDict = {"code": code, "message": message, "status": _STATUS.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return json_response({"error": error}, code)


def _bad_request(violations: list[tuple[str, str]]) -> web.Response:
    return _error(
        400,
        "\n".join(text for _, text in violations),
        [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": f, "description": text} for f, text in violations],
            }
        ],
    )


def _camel(key: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), key)


def _get(obj: JSONDict, camel: str) -> Any:
    """A field under its camelCase or snake_case name (proto3 JSON accepts both)."""
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower())


def _b64bytes(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        padded = value + "=" * (-len(value) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    return value.encode()


def _new_signature() -> bytes:
    # The leading bytes make the standard base64 form start with "++++", so a client that hands the
    # signature back URL-safe encoded ("----") is caught if it is compared as text.
    return b"\xfb\xef\xbe" + secrets.token_bytes(45)


def _sig_text(signature: bytes) -> str:
    return base64.b64encode(signature).decode()


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


def _texts(content: Any) -> list[str]:
    if not isinstance(content, dict):
        return []
    parts = _get(content, "parts")
    return [
        p["text"]
        for p in (parts if isinstance(parts, list) else [])
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    ]


def schema_violations(schema: Any, path: str) -> list[tuple[str, str]]:
    """Unknown Schema keys, reported the way Google's JSON parser does."""
    if not isinstance(schema, dict):
        return []
    out: list[tuple[str, str]] = []
    for key, value in schema.items():
        if _camel(key) not in SCHEMA_KEYS:
            out.append(
                (
                    path,
                    f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find field.",
                )
            )
            continue
        name = _camel(key)
        if name == "properties" and isinstance(value, dict):
            for i, sub in enumerate(value.values()):
                out += schema_violations(sub, f"{path}.properties[{i}].value")
        elif name == "items":
            out += schema_violations(value, f"{path}.items")
        elif name == "anyOf" and isinstance(value, list):
            for i, sub in enumerate(value):
                out += schema_violations(sub, f"{path}.any_of[{i}]")
    return out


# ---------------------------------------------------------------------------------------------------------
# the server


class FakeGemini(StreamingFakeServer):
    """A Gemini API upstream on 127.0.0.1, run as an async context manager."""

    base_path = ""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.issued_calls: list[IssuedCall] = []

    def routes(self, app: web.Application) -> None:
        for version in ("v1beta", "v1"):
            app.router.add_get(f"/{version}/models", self._list_models)
            app.router.add_get(f"/{version}/models/{{model}}", self._get_model)
            app.router.add_post(f"/{version}/models/{{spec}}", self._dispatch)

    def reset(self) -> None:
        """Forget recorded requests, issued calls and counters."""
        super().reset()
        self.issued_calls.clear()

    # -- checks ----------------------------------------------------------------------------------------

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise Reject(
                _error(
                    403,
                    "Method doesn't allow unregistered callers (callers without established identity). "
                    "Please use API Key or other form of API consumer identity to call this API.",
                )
            )
        if key != self.api_key:
            message = "API key not valid. Please pass a valid API key."
            raise Reject(
                _error(
                    400,
                    message,
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                            "metadata": {"service": "generativelanguage.googleapis.com"},
                        },
                        {
                            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                            "locale": "en-US",
                            "message": message,
                        },
                    ],
                )
            )

    def _body(self, request: web.Request) -> JSONDict:
        ok, body = request[PARSED]
        if not ok or not isinstance(body, dict):
            raise Reject(_error(400, "Invalid JSON payload received. Unexpected token."))
        return body

    # -- dispatch --------------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        spec = request.match_info["spec"]
        model, _, method = spec.rpartition(":")
        if not model:
            return await self._not_found(request)
        self._check_key(request)
        handlers = {
            "generateContent": self._generate,
            "streamGenerateContent": self._stream,
            "countTokens": self._count_tokens,
            "embedContent": self._embed,
            "batchEmbedContents": self._batch_embed,
        }
        handler = handlers.get(method)
        if handler is None:
            return await self._not_found(request)
        version = request.path.split("/", 2)[1]
        return await handler(request, model, version)

    def _fail_model(self, model: str) -> None:
        if model == "fail-500":
            raise Reject(
                _error(
                    500,
                    "An internal error has occurred. Please retry or report in "
                    "https://developers.generativeai.google/guide/troubleshooting",
                )
            )
        if model == "fail-429":
            raise Reject(
                _error(
                    429,
                    "You exceeded your current quota, please check your plan and billing details. For more "
                    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
                    QUOTA_DETAILS,
                )
            )
        if model == "fail-400":
            raise Reject(_error(400, "Request contains an invalid argument."))

    # -- generateContent -------------------------------------------------------------------------------

    def _validate(self, body: JSONDict) -> None:
        contents = _get(body, "contents")
        if not isinstance(contents, list) or not contents:
            raise Reject(_error(400, "* GenerateContentRequest.contents: contents is not specified\n"))
        violations: list[tuple[str, str]] = []
        tools = _get(body, "tools")
        for i, tool in enumerate(tools if isinstance(tools, list) else []):
            decls = _get(tool, "functionDeclarations") if isinstance(tool, dict) else None
            for k, decl in enumerate(decls if isinstance(decls, list) else []):
                params = _get(decl, "parameters") if isinstance(decl, dict) else None
                path = f"tools[{i}].function_declarations[{k}].parameters"
                violations += schema_violations(params, path)
                if (
                    isinstance(params, dict)
                    and str(params.get("type", "")).upper() == "OBJECT"
                    and not _get(params, "properties")
                ):
                    raise Reject(
                        _error(
                            400,
                            f"* GenerateContentRequest.{path}.properties: "
                            "should be non-empty for OBJECT type\n",
                        )
                    )
        config = _get(body, "generationConfig")
        if isinstance(config, dict):
            violations += schema_violations(
                _get(config, "responseSchema"), "generation_config.response_schema"
            )
        if violations:
            raise Reject(_bad_request(violations))
        self._check_signatures(contents)

    def _check_signatures(self, contents: list[Any]) -> None:
        """Gemini 3's rule: in the current turn (everything after the last user content that is not
        only function responses) the first functionCall of each model step carries its signature."""
        turn_start = 0
        for i, content in enumerate(contents):
            if not isinstance(content, dict):
                continue
            parts = _get(content, "parts")
            if content.get("role", "user") != "model" and any(
                isinstance(p, dict) and _get(p, "functionResponse") is None
                for p in (parts if isinstance(parts, list) else [])
            ):
                turn_start = i
        position = 0
        for content in contents[turn_start:]:
            if not isinstance(content, dict) or content.get("role") != "model":
                continue
            first_in_step = True
            parts = _get(content, "parts")
            for part in parts if isinstance(parts, list) else []:
                call = _get(part, "functionCall") if isinstance(part, dict) else None
                if not isinstance(call, dict):
                    continue
                position += 1
                signature = _b64bytes(_get(part, "thoughtSignature"))
                issued = self._issued_for(call)
                ok = (
                    signature == issued.signature
                    if issued is not None
                    else not first_in_step or bool(signature)
                )
                first_in_step = False
                if not ok:
                    message = MISSING_SIGNATURE.format(name=call.get("name"), position=position)
                    raise Reject(_error(400, message))

    def _issued_for(self, call: JSONDict) -> IssuedCall | None:
        call_id = call.get("id")
        for issued in self.issued_calls:
            if call_id == issued.id:
                return issued
        for issued in self.issued_calls:
            if call_id is None and call.get("name") == issued.name and call.get("args") == issued.args:
                return issued
        return None

    def _answer(self, body: JSONDict, model: str) -> tuple[list[list[JSONDict]], JSONDict]:
        """The parts to send (one list per streamed chunk) and the final usageMetadata."""
        contents = _get(body, "contents")
        last = contents[-1] if isinstance(contents, list) and contents else {}
        last_parts = _get(last, "parts") if isinstance(last, dict) else None
        responses = [
            _get(p, "functionResponse")
            for p in (last_parts if isinstance(last_parts, list) else [])
            if isinstance(p, dict) and _get(p, "functionResponse") is not None
        ]
        user_texts = [
            t for c in contents if isinstance(c, dict) and c.get("role", "user") == "user" for t in _texts(c)
        ]
        prompt_tokens = sum(_text.words(t) for c in contents for t in _texts(c)) + 3 * len(contents)
        system = _get(body, "systemInstruction")
        prompt_tokens += sum(_text.words(t) for t in _texts(system))

        config = _get(body, "generationConfig")
        thinking = _get(config, "thinkingConfig") if isinstance(config, dict) else None
        thinking = thinking if isinstance(thinking, dict) else None
        budget = _get(thinking, "thinkingBudget") if thinking else None
        thinks = thinking is not None and budget != 0
        include_thoughts = bool(thinking and _get(thinking, "includeThoughts") is True)

        chunks: list[list[JSONDict]] = []
        if include_thoughts:
            chunks.append(
                [{"text": THOUGHT_TEXT, "thought": True, "thoughtSignature": _sig_text(_new_signature())}]
            )

        step = agent.decide(model, *agent.gemini_view(body))
        function, args = self._function_to_call(body, model), dict(TOOL_ARGS)
        if isinstance(step, agent.Call):
            function, args = step.name, step.arguments
        if function is not None and not responses and not isinstance(step, str):
            issued = IssuedCall(f"fc_{secrets.token_hex(6)}", function, args, _new_signature())
            self.issued_calls.append(issued)
            call = {"functionCall": {"id": issued.id, "name": function, "args": issued.args}}
            chunks.append([{**call, "thoughtSignature": _sig_text(issued.signature)}])
            completion_tokens = _text.words(orjson.dumps(args).decode())
        else:
            if isinstance(step, str):
                reply = step
            elif responses:
                first = responses[0] if isinstance(responses[0], dict) else {}
                reply = f"Thanks! {first.get('name')} said: {orjson.dumps(first.get('response')).decode()}"
            elif model == "slow-stream":
                reply = " ".join(["Hello!", *(f"t{i}" for i in range(1, SLOW_STREAM_TICKS + 1))])
            else:
                reply = f"Hello! You said: {user_texts[-1] if user_texts else ''}"
            chunks.extend([{"text": piece}] for piece in _text.pieces(reply))
            completion_tokens = _text.words(reply)

        usage: JSONDict = {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": completion_tokens,
            "totalTokenCount": prompt_tokens + completion_tokens + (THOUGHT_TOKENS if thinks else 0),
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        }
        if model.startswith("cached-"):
            usage["cachedContentTokenCount"] = prompt_tokens // 2
        if thinks:
            usage["thoughtsTokenCount"] = THOUGHT_TOKENS
        return chunks, usage

    @staticmethod
    def _function_to_call(body: JSONDict, model: str) -> str | None:
        if model != "tool":
            return None
        tools = _get(body, "tools")
        for tool in tools if isinstance(tools, list) else []:
            decls = _get(tool, "functionDeclarations") if isinstance(tool, dict) else None
            for decl in decls if isinstance(decls, list) else []:
                if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                    return str(decl["name"])
        return None

    @staticmethod
    def _envelope(
        parts: list[JSONDict], model: str, response_id: str, finish: bool, usage: JSONDict
    ) -> JSONDict:
        candidate: JSONDict = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": response_id,
        }

    async def _generate(self, request: web.Request, model: str, version: str) -> web.StreamResponse:
        body = self._body(request)
        self._fail_model(model)
        self._validate(body)
        chunks, usage = self._answer(body, model)
        parts: list[JSONDict] = []
        for chunk in chunks:
            for part in chunk:
                if (
                    parts
                    and "text" in part
                    and "text" in parts[-1]
                    and not part.get("thought")
                    and not parts[-1].get("thought")
                ):
                    parts[-1] = {"text": parts[-1]["text"] + part["text"]}
                else:
                    parts.append(dict(part))
        return json_response(self._envelope(parts, model, secrets.token_urlsafe(16), True, usage))

    async def _stream(self, request: web.Request, model: str, version: str) -> web.StreamResponse:
        body = self._body(request)
        self._fail_model(model)
        self._validate(body)
        chunks, usage = self._answer(body, model)
        sse = request.query.get("alt") == "sse"
        response_id = secrets.token_urlsafe(16)
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream" if sse else "application/json; charset=UTF-8"},
        )

        async def write() -> None:
            for i, parts in enumerate(chunks):
                if model == "slow-stream" and 2 <= i < 2 + SLOW_STREAM_TICKS:
                    await asyncio.sleep(SLOW_STREAM_INTERVAL_S)
                last = i == len(chunks) - 1
                envelope = self._envelope(parts, model, response_id, last, usage)
                if sse:
                    await response.write(b"data: " + orjson.dumps(envelope) + b"\r\n\r\n")
                else:  # the REST array form, pretty-printed like Google's
                    lead = b"[" if i == 0 else b"\n,\r\n"
                    await response.write(lead + orjson.dumps(envelope, option=orjson.OPT_INDENT_2))
            if not sse:
                await response.write(b"\n]" if chunks else b"[]")

        return await self._send_stream(request, response, write)

    # -- countTokens / embeddings ----------------------------------------------------------------------

    async def _count_tokens(self, request: web.Request, model: str, version: str) -> web.StreamResponse:
        body = self._body(request)
        self._fail_model(model)
        inner = _get(body, "generateContentRequest")
        contents = _get(inner if isinstance(inner, dict) else body, "contents")
        if not isinstance(contents, list):
            return _error(400, "* CountTokensRequest.contents: contents is not specified\n")
        total = sum(_text.words(t) for c in contents for t in _texts(c)) + 3 * len(contents)
        return json_response(
            {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
        )

    @staticmethod
    def _embedding_for(req: Any) -> JSONDict:
        if not isinstance(req, dict) or not isinstance(_get(req, "content"), dict):
            raise Reject(_error(400, "* EmbedContentRequest.content: content is not specified\n"))
        dims = _get(req, "outputDimensionality") or EMBEDDING_DIMS
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= MAX_EMBEDDING_DIMS:
            raise Reject(
                _error(400, f"* EmbedContentRequest.output_dimensionality: {dims!r} is out of range\n")
            )
        return {"values": _embedding(_texts(_get(req, "content")), dims)}

    async def _embed(self, request: web.Request, model: str, version: str) -> web.StreamResponse:
        body = self._body(request)
        self._fail_model(model)
        return json_response({"embedding": self._embedding_for(body)})

    async def _batch_embed(self, request: web.Request, model: str, version: str) -> web.StreamResponse:
        body = self._body(request)
        self._fail_model(model)
        requests = _get(body, "requests")
        if not isinstance(requests, list) or not requests:
            return _error(400, "* BatchEmbedContentsRequest.requests: requests is not specified\n")
        for i, req in enumerate(requests):
            named = _get(req, "model") if isinstance(req, dict) else None
            if named is not None and named != f"models/{model}":
                return _error(
                    400,
                    f"Model names should be the same: models/{model} from the request URL, but {named} "
                    f"in requests[{i}].",
                )
        return json_response({"embeddings": [self._embedding_for(req) for req in requests]})

    # -- models and 404 --------------------------------------------------------------------------------

    @staticmethod
    def _model_entry(name: str) -> JSONDict:
        embedding = "embedding" in name
        methods = ["embedContent", "batchEmbedContents"] if embedding else ["generateContent", "countTokens"]
        entry: JSONDict = {
            "name": f"models/{name}",
            "version": "001",
            "displayName": name.replace("-", " ").title(),
            "description": f"Fake {name}",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": methods,
        }
        if not embedding:
            entry |= {"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True}
        return entry

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        self._check_key(request)
        return json_response({"models": [self._model_entry(m) for m in MODELS]})

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        self._check_key(request)
        name = request.match_info["model"]
        if name not in MODELS:
            version = request.path.split("/", 2)[1]
            return _error(404, f"models/{name} is not found for API version {version}, or is not supported.")
        return json_response(self._model_entry(name))

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _error(404, f"Method not found: {request.method} {request.path}")
