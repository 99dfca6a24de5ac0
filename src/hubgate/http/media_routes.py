"""OpenAI media routes: moderations, images and audio (SPEC §4), passed through to
OpenAI-format channels by `relay/media.py`. Each handler only reads and checks what the
gateway itself needs: the model (to route), the files (to refuse a useless upload
early) and, for speech, the input (to meter); everything else is the upstream's to judge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hubgate.errors import InvalidRequest
from hubgate.formats.registry import WireFormat
from hubgate.gateway import GATEWAY
from hubgate.http.body import parse_object, read_body
from hubgate.http.multipart import read_form, text_fields
from hubgate.providers.base import Endpoint
from hubgate.relay.call import Call
from hubgate.relay.dispatch import relay
from hubgate.relay.media import MediaCall
from hubgate.storage.keys import KeyRecord

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _model(fields: dict[str, Any], default: str | None) -> str:
    model = fields.get("model") or default
    if not isinstance(model, str):
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    return model


def json_route(endpoint: Endpoint, *, default_model: str | None = None) -> Handler:
    """A JSON endpoint (moderations, image generation, speech)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        gw = request.app[GATEWAY]

        async def prepare(key: KeyRecord) -> Call:
            body = parse_object(await read_body(request, gw.max_body_bytes))
            model = _model(body, default_model)
            speech = endpoint is Endpoint.AUDIO_SPEECH
            if speech and not isinstance(body.get("input"), str):
                raise InvalidRequest("'input' must be a string: the text to speak.", param="input")
            return Call(WireFormat.OPENAI_CHAT, endpoint, body, model, stream=speech)

        return await relay(gw, request, endpoint.value, prepare)

    return handler


def form_route(endpoint: Endpoint, files: tuple[str, ...], *, default_model: str | None = None) -> Handler:
    """A multipart upload endpoint; one of `files` must be among its parts."""

    async def handler(request: web.Request) -> web.StreamResponse:
        gw = request.app[GATEWAY]

        async def prepare(key: KeyRecord) -> Call:
            parts = await read_form(request, gw.max_body_bytes)
            if not any(p.name in files for p in parts):
                raise InvalidRequest(f"Missing required parameter: '{files[0]}' (a file).", param=files[0])
            fields = text_fields(parts)
            model = _model(fields, default_model)
            stream = endpoint is Endpoint.AUDIO_TRANSCRIPTIONS and fields.get("stream") == "true"
            return MediaCall(WireFormat.OPENAI_CHAT, endpoint, dict(fields), model, stream, form=tuple(parts))

        return await relay(gw, request, endpoint.value, prepare)

    return handler


ROUTES: dict[str, Handler] = {
    "moderations": json_route(Endpoint.MODERATIONS, default_model="omni-moderation-latest"),
    "images/generations": json_route(Endpoint.IMAGES_GENERATIONS),
    "images/edits": form_route(Endpoint.IMAGES_EDITS, ("image", "image[]")),
    "images/variations": form_route(Endpoint.IMAGES_VARIATIONS, ("image",), default_model="dall-e-2"),
    "audio/speech": json_route(Endpoint.AUDIO_SPEECH),
    "audio/transcriptions": form_route(Endpoint.AUDIO_TRANSCRIPTIONS, ("file",)),
    "audio/translations": form_route(Endpoint.AUDIO_TRANSLATIONS, ("file",)),
}


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    """The media routes under `prefix` ("" or "/api"), with and without `/v1`."""
    for version in ("/v1", ""):
        for path, handler in ROUTES.items():
            router.add_post(f"{prefix}{version}/{path}", handler)
