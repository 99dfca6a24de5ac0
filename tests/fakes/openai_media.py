"""The media half of :class:`~tests.fakes.openai_upstream.FakeOpenAI`: moderations, images, audio.

Answers in OpenAI's wire shapes (``openai.types``): moderation results, ``ImagesResponse`` (``url`` or
``b64_json`` items for DALL-E, always ``b64_json`` plus ``usage`` for ``gpt-image-*``), transcriptions
and translations in every ``response_format``, and speech as audio bytes sent in several chunks.
Multipart uploads are parsed from the raw body and kept in :attr:`MediaRoutes.uploads`, so tests can
compare the bytes that arrived. Model ``fail-500`` answers HTTP 500 (after its upload was recorded).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ._server import PARSED, json_response, sse_response

if TYPE_CHECKING:
    from .openai_upstream import FakeOpenAI

JSONDict = dict[str, Any]

# A 1x1 PNG: what every generated image is.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
SPEECH_CHUNKS = 4
SPEECH_CHUNK_DELAY_S = 0.05
AUDIO_BYTES_PER_SECOND = 4000  # how long the fake says an uploaded file lasts
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
SPEECH_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
VOICES = (
    "alloy",
    "ash",
    "ballad",
    "cedar",
    "coral",
    "echo",
    "fable",
    "marin",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)


@dataclass(frozen=True)
class Part:
    """One multipart part as it arrived."""

    name: str
    value: bytes
    filename: str | None
    content_type: str | None


def speech_audio(text: str) -> bytes:
    """The fake's "audio" for ``text``: deterministic, about 5 KB + 20 bytes per character."""
    size = 5000 + 20 * len(text)
    out = bytearray(b"ID3\x04\x00\x00")
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(text.encode() + counter.to_bytes(4, "little")).digest()
        counter += 1
    return bytes(out[:size])


def transcript(file: bytes) -> tuple[str, float]:
    """What the fake "hears" in an upload, and how long it says the upload lasts."""
    return f"Fake transcript of {len(file)} bytes.", round(len(file) / AUDIO_BYTES_PER_SECOND, 2)


async def read_fields(
    request: web.Request, uploads: list[list[Part]]
) -> tuple[JSONDict, list[Part]] | web.Response:
    """A media request's fields (multipart, recorded in `uploads`, or JSON) and its parts,
    or the 400 the real API answers for a body it cannot read."""
    if request.content_type == "multipart/form-data":
        parts = parse_multipart(await request.read(), request.headers.get("Content-Type", ""))
        if not parts:
            return _error(400, "Could not parse multipart form")
        uploads.append(parts)
        return {p.name: p.value.decode() for p in parts if p.filename is None}, parts
    ok, parsed = request[PARSED]
    if not ok or not isinstance(parsed, dict):
        return _error(400, "We could not parse the JSON body of your request.")
    return parsed, []


def parse_multipart(raw: bytes, content_type: str) -> list[Part]:
    """A strict, small multipart/form-data parser (the fake must see exactly what was sent)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None or not content_type.startswith("multipart/form-data"):
        return []
    delimiter = b"--" + match.group(1).encode()
    parts: list[Part] = []
    for chunk in raw.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, body = chunk[2:].partition(b"\r\n\r\n")
        if not body.endswith(b"\r\n"):
            return []
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        parts.append(
            Part(
                name=name.group(1) if name else "",
                value=body[:-2],
                filename=filename.group(1) if filename else None,
                content_type=headers.get("content-type"),
            )
        )
    return parts


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> web.Response:
    return json_response(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}, status
    )


def _missing(param: str) -> web.Response:
    return _error(
        400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _int_field(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


Handler = Callable[[web.Request, str, JSONDict, list[Part]], Awaitable[web.StreamResponse]]


class MediaRoutes:
    """The media routes of a :class:`FakeOpenAI` (OpenAI paths and Azure deployment paths)."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        self.uploads: list[list[Part]] = []  # every multipart body received, parsed
        self.speech_chunk_delay_s = SPEECH_CHUNK_DELAY_S

    def add(self, app: web.Application) -> None:
        handlers: dict[str, Handler] = {
            "moderations": self._moderations,
            "images/generations": self._images,
            "images/edits": self._images,
            "images/variations": self._images,
            "audio/transcriptions": self._transcriptions,
            "audio/translations": self._transcriptions,
            "audio/speech": self._speech,
        }
        for path, handler in handlers.items():
            wrapped = self._wrap(path, handler)
            app.router.add_post(f"/v1/{path}", wrapped)
            app.router.add_post(f"/openai/deployments/{{deployment}}/{path}", wrapped)

    def _wrap(self, path: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            deployment = request.match_info.get("deployment")
            if deployment is not None:
                key = request.headers.get("api-key", "")
            else:
                auth = request.headers.get("Authorization", "")
                key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            if key != self.fake.api_key:
                return _error(401, "Incorrect API key provided.", code="invalid_api_key")
            read = await read_fields(request, self.uploads)
            if isinstance(read, web.Response):
                return read
            body, parts = read
            default = "dall-e-2" if path.startswith("images/") else None
            model = deployment or body.get("model") or default
            if not isinstance(model, str):
                return _missing("model")
            if model == "fail-500":
                return json_response(
                    {"error": {"message": "The server had an error.", "type": "server_error", "param": None,
                               "code": None}},
                    500,
                )  # fmt: skip
            return await handler(request, model, body, parts)

        return serve

    # -- /moderations ----------------------------------------------------------------------------------

    async def _moderations(
        self, request: web.Request, model: str, body: JSONDict, parts: list[Part]
    ) -> web.StreamResponse:
        raw = body.get("input")
        texts: list[str]
        if isinstance(raw, str):
            texts = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
            texts = list(raw)
        elif isinstance(raw, list) and raw and all(isinstance(t, dict) for t in raw):
            texts = [" ".join(str(t.get("text", "")) for t in raw)]  # one multimodal input
        elif raw is None:
            return _missing("input")
        else:
            return _error(400, "Invalid value for 'input'.", param="input", code="invalid_value")
        results = []
        for text in texts:
            violent = "kill" in text.lower()
            results.append(
                {
                    "flagged": violent,
                    "categories": {c: violent and c == "violence" for c in MODERATION_CATEGORIES},
                    "category_scores": {
                        c: (0.91 if violent and c == "violence" else 0.0001) for c in MODERATION_CATEGORIES
                    },
                    "category_applied_input_types": {c: ["text"] for c in MODERATION_CATEGORIES},
                }
            )
        return json_response({"id": f"modr-{secrets.token_hex(12)}", "model": model, "results": results})

    # -- /images/* -------------------------------------------------------------------------------------

    async def _images(
        self, request: web.Request, model: str, body: JSONDict, parts: list[Part]
    ) -> web.StreamResponse:
        kind = request.path.rsplit("/", 1)[-1]  # generations, edits, variations
        files = {p.name for p in parts if p.filename is not None}
        if kind != "generations" and not files & {"image", "image[]"}:
            return _missing("image")
        if kind != "variations" and not body.get("prompt"):
            return _missing("prompt")
        n = _int_field(body.get("n"), 1)
        gpt_image = model.startswith("gpt-image")
        if model.startswith("dall-e-3") and n != 1:
            return _error(400, "You must provide n=1 for this model.", param="n", code="invalid_value")
        response_format = body.get("response_format")
        if gpt_image and response_format is not None:
            return _error(
                400,
                "Unknown parameter: 'response_format'.",
                param="response_format",
                code="unknown_parameter",
            )
        response_format = response_format or ("b64_json" if gpt_image else "url")
        if response_format not in ("url", "b64_json"):
            return _error(
                400,
                f"Invalid value: '{response_format}'. Supported values are: 'url' and 'b64_json'.",
                param="response_format",
                code="invalid_value",
            )
        data: list[JSONDict] = []
        for _ in range(n):
            item: JSONDict
            if response_format == "b64_json":
                item = {"b64_json": PNG_B64}
            else:
                item = {
                    "url": f"https://oaidalleapiprodscus.blob.core.windows.net/private/img-{secrets.token_hex(8)}.png"
                }
            if model.startswith("dall-e-3"):
                item["revised_prompt"] = f"A detailed rendering of: {body.get('prompt')}"
            data.append(item)
        result: JSONDict = {"created": int(time.time()), "data": data}
        if gpt_image:
            prompt_tokens = len(str(body.get("prompt", "")).split())
            image_in = 323 * len([p for p in parts if p.name in ("image", "image[]")])
            result |= {
                "background": "opaque",
                "output_format": "png",
                "quality": "low",
                "size": "1024x1024",
                "usage": {
                    "input_tokens": prompt_tokens + image_in,
                    "input_tokens_details": {"image_tokens": image_in, "text_tokens": prompt_tokens},
                    "output_tokens": 272 * n,
                    "total_tokens": prompt_tokens + image_in + 272 * n,
                },
            }
        return json_response(result)

    # -- /audio/transcriptions and /audio/translations ---------------------------------------------------

    async def _stream_transcript(self, request: web.Request, text: str, size: int) -> web.StreamResponse:
        """`stream=true` (gpt-4o-transcribe and later): text deltas, then the whole text with usage."""
        out = sse_response()
        await out.prepare(request)
        for word in text.split(" "):
            delta = {"type": "transcript.text.delta", "delta": word + " "}
            await out.write(b"data: " + orjson.dumps(delta) + b"\n\n")
        audio_tokens, output_tokens = max(1, size // 100), len(text.split())
        usage = {
            "type": "tokens", "input_tokens": audio_tokens, "output_tokens": output_tokens,
            "total_tokens": audio_tokens + output_tokens,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        }  # fmt: skip
        done = {"type": "transcript.text.done", "text": text, "usage": usage}
        await out.write(b"data: " + orjson.dumps(done) + b"\n\n")
        await out.write_eof()
        return out

    async def _transcriptions(
        self, request: web.Request, model: str, body: JSONDict, parts: list[Part]
    ) -> web.StreamResponse:
        translate = request.path.endswith("/translations")
        file = next((p for p in parts if p.name == "file" and p.filename is not None), None)
        if file is None:
            return _missing("file")
        fmt = body.get("response_format") or "json"
        whisper = model.startswith("whisper")
        allowed = ("json", "text", "srt", "verbose_json", "vtt") if whisper else ("json", "text")
        if fmt not in allowed:
            return _error(
                400,
                f"response_format '{fmt}' is not compatible with model '{model}'. "
                f"Use {' or '.join(repr(a) for a in allowed)}.",
                param="response_format",
                code="unsupported_value",
            )
        text, duration = transcript(file.value)
        seconds = {"type": "duration", "seconds": math.ceil(duration)}
        if body.get("stream") == "true" and not whisper and not translate:
            return await self._stream_transcript(request, text, len(file.value))
        if fmt == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if fmt in ("srt", "vtt"):
            end = f"00:00:{duration:06.3f}"
            if fmt == "srt":
                return web.Response(
                    text=f"1\n00:00:00,000 --> {end.replace('.', ',')}\n{text}\n\n", content_type="text/plain"
                )
            return web.Response(
                text=f"WEBVTT\n\n00:00:00.000 --> {end}\n{text}\n\n", content_type="text/plain"
            )
        if fmt == "verbose_json":
            segment = {
                "id": 0, "seek": 0, "start": 0.0, "end": duration, "text": text, "tokens": [50364, 400],
                "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.0, "no_speech_prob": 0.01,
            }  # fmt: skip
            result: JSONDict = {
                "task": "translate" if translate else "transcribe",
                "language": "english",
                "duration": duration,
                "text": text,
                "segments": [segment],
            }
            if not translate:  # TranslationVerbose has no usage
                result["usage"] = seconds
            return json_response(result)
        if translate:
            return json_response({"text": text})
        if whisper:
            return json_response({"text": text, "usage": seconds})
        audio_tokens = max(1, len(file.value) // 100)
        output_tokens = len(text.split())
        return json_response(
            {
                "text": text,
                "usage": {
                    "type": "tokens",
                    "input_tokens": audio_tokens,
                    "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                    "output_tokens": output_tokens,
                    "total_tokens": audio_tokens + output_tokens,
                },
            }
        )

    # -- /audio/speech ---------------------------------------------------------------------------------

    async def _speech(
        self, request: web.Request, model: str, body: JSONDict, parts: list[Part]
    ) -> web.StreamResponse:
        text = body.get("input")
        if not isinstance(text, str):
            return _missing("input")
        if body.get("voice") not in VOICES:
            return _error(
                400, f"Invalid value for 'voice': {body.get('voice')!r}.", param="voice", code="invalid_value"
            )
        fmt = body.get("response_format") or "mp3"
        if not isinstance(fmt, str) or fmt not in SPEECH_TYPES:
            return _error(400, f"Invalid value for 'response_format': '{fmt}'.", param="response_format")
        audio = speech_audio(text)
        response = web.StreamResponse(headers={"Content-Type": SPEECH_TYPES[fmt]})
        size = math.ceil(len(audio) / SPEECH_CHUNKS)

        async def write() -> None:
            for i in range(0, len(audio), size):
                if i:
                    await asyncio.sleep(self.speech_chunk_delay_s)
                await response.write(audio[i : i + size])

        return await self.fake._send_stream(request, response, write)
