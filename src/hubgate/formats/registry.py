"""Which codec speaks which wire format, behind one typed interface."""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Any, Protocol

from hubgate.formats import hub


class WireFormat(StrEnum):
    """The API shape a caller or an upstream speaks for model answers."""

    OPENAI_CHAT = "openai_chat"
    OPENAI_RESPONSES = "openai_responses"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class StreamDecoder(Protocol):
    def feed(self, event: hub.SSEEvent) -> list[hub.StreamEvent]: ...
    def close(self) -> list[hub.StreamEvent]: ...


class StreamEncoder(Protocol):
    def feed(self, event: hub.StreamEvent) -> bytes: ...
    def close(self) -> bytes: ...


class Codec(Protocol):
    def decode_request(self, body: dict[str, Any]) -> hub.Request: ...
    def encode_request(
        self, req: hub.Request, model: str, drops: list[hub.Drop] | None = None
    ) -> dict[str, Any]: ...
    def decode_response(self, body: dict[str, Any]) -> hub.Response: ...
    def encode_response(self, resp: hub.Response, model: str, **options: Any) -> dict[str, Any]: ...
    def decode_error(self, status: int, body: bytes) -> str: ...


_MODULES = {
    WireFormat.OPENAI_CHAT: "hubgate.formats.openai_chat",
    WireFormat.OPENAI_RESPONSES: "hubgate.formats.openai_responses",
    WireFormat.ANTHROPIC: "hubgate.formats.anthropic",
    WireFormat.GEMINI: "hubgate.formats.gemini",
}


def codec(fmt: WireFormat) -> Codec:
    module: Codec = importlib.import_module(_MODULES[fmt])  # type: ignore[assignment]
    return module


def stream_decoder(fmt: WireFormat) -> StreamDecoder:
    decoder: StreamDecoder = importlib.import_module(_MODULES[fmt]).StreamDecoder()
    return decoder


def stream_encoder(
    fmt: WireFormat, model: str, *, include_usage: bool = True, gemini_sse: bool = True, **extra: Any
) -> StreamEncoder:
    """A caller-side encoder; each format takes the options that apply to it."""
    cls = importlib.import_module(_MODULES[fmt]).StreamEncoder
    encoder: StreamEncoder
    if fmt is WireFormat.OPENAI_CHAT:
        encoder = cls(model, include_usage=include_usage)
    elif fmt is WireFormat.GEMINI:
        encoder = cls(model, sse=gemini_sse)
    else:
        encoder = cls(model, **extra)
    return encoder
