"""The catalogue as each process holds it (no database round trip per request), and the
built-in entries it is seeded from.

A catalogue entry gives a served model its public face: vendor, display name, limits,
modalities, prices. It also makes `vendor/model` a name for the model: `openai/gpt-4.1`
resolves to every channel serving `gpt-4.1` (see `ChannelTable.resolve`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType

from hubgate.metering.price import Price
from hubgate.metering.prices import BUILTIN_PRICES, max_output_tokens
from hubgate.storage.catalogue import CatalogueEntry

# Model family prefix -> vendor; the first match wins (longer, more specific prefixes first).
_VENDORS: tuple[tuple[str, str], ...] = (
    (r"(gpt|chatgpt|o\d|dall-e|sora|whisper|tts|text-embedding|omni-moderation|codex|babbage|davinci)\b",
     "openai"),
    (r"claude", "anthropic"),
    (r"(gemini|imagen|veo|gemma)\b", "google"),
    (r"deepseek", "deepseek"),
    (r"(qwen|qwq|qvq)", "qwen"),
    (r"(kimi|moonshot)", "moonshot"),
    (r"(glm|chatglm|cogview|cogvideo)", "zhipu"),
    (r"(minimax|abab|hailuo)", "minimax"),
    (r"grok", "xai"),
    (r"(mistral|mixtral|codestral|magistral|pixtral|ministral|devstral)", "mistral"),
    (r"llama", "meta"),
    (r"command|rerank|embed-", "cohere"),
)  # fmt: skip
_VENDOR_RES = tuple((re.compile(p), v) for p, v in _VENDORS)

_VISION = re.compile(r"^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o[134]|claude|gemini|grok-4|qwen.*vl|glm-4\.\dv)")
_UPPER = {"gpt": "GPT", "glm": "GLM", "tts": "TTS", "vl": "VL", "dall": "DALL", "ai": "AI"}


def infer_vendor(model: str) -> str:
    """The vendor of a model family, from its id (`other` when no family matches)."""
    base = model.lower().rsplit("/", 1)[-1]
    for pattern, vendor in _VENDOR_RES:
        if pattern.match(base):
            return vendor
    return "other"


def display_name(model: str) -> str:
    """`gpt-4.1-mini` -> `GPT-4.1 Mini`, `claude-sonnet-4-5` -> `Claude Sonnet 4.5`."""
    words: list[str] = []
    for word in model.split("-"):
        if words and word.isdigit() and len(word) <= 2 and words[-1][-1:].isdigit():
            words[-1] += "." + word  # a version written with dashes: 4-5 -> 4.5
        else:
            words.append(word)
    shown = [_UPPER.get(w, w if re.fullmatch(r"o\d", w) else w[:1].upper() + w[1:]) for w in words]
    if len(shown) > 1 and words[0] == "gpt":
        shown[:2] = [f"{shown[0]}-{shown[1]}"]
    return " ".join(shown)


def modalities(model: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input, output) modalities guessed from the model's family."""
    m = model.lower()
    if m.startswith(("sora", "veo")) or "video" in m:
        return ("text", "image"), ("video",)
    if m.startswith(("dall-e", "imagen", "cogview")):
        return ("text",), ("image",)
    if "image" in m:
        return ("text", "image"), ("image",)
    if m.startswith("tts") or m.endswith("-tts"):
        return ("text",), ("audio",)
    if m.startswith("whisper") or "transcribe" in m:
        return ("audio",), ("text",)
    if "embed" in m:
        return ("text",), ("embeddings",)
    if _VISION.match(m):
        return ("text", "image"), ("text",)
    return ("text",), ("text",)


def price_fields(price: Price, output_modalities: Iterable[str]) -> dict[str, Decimal]:
    """The catalogue's price fields from a metering price: `per_request` is USD per second
    for video models and per image for image models (as the usage rows count them)."""
    fields: dict[str, Decimal] = {}
    if price.input or price.output or not price.per_request:  # a price per unit only: no token prices
        fields.update(input=price.input, output=price.output)
    if price.cached_input is not None:
        fields["cached_input"] = price.cached_input
    if price.cache_write is not None:
        fields["cache_write"] = price.cache_write
    if price.per_request:
        outputs = set(output_modalities)
        unit = "per_second" if "video" in outputs else "per_image" if "image" in outputs else "per_request"
        fields[unit] = price.per_request
    return fields


def builtin_entry(model: str, price: Price) -> CatalogueEntry:
    inputs, outputs = modalities(model)
    return CatalogueEntry(
        model=model,
        vendor=infer_vendor(model),
        name=display_name(model),
        max_output_tokens=max_output_tokens(model) or None,
        input_modalities=inputs,
        output_modalities=outputs,
        prices=price_fields(price, outputs),
    )


def builtin_entries() -> list[CatalogueEntry]:
    """One entry per model of the built-in price table (size-specific prices left out)."""
    return [builtin_entry(m, p) for m, p in sorted(BUILTIN_PRICES.items()) if ":" not in m]


class Catalogue:
    """An immutable snapshot of the catalogue: entries by model and `vendor/model` aliases
    (enabled entries only)."""

    def __init__(self, entries: Iterable[CatalogueEntry] = ()) -> None:
        self._entries = {e.model: e for e in entries}
        self._aliases = MappingProxyType(
            {f"{e.vendor}/{e.model}": e.model for e in self._entries.values() if e.enabled}
        )

    def get(self, model: str) -> CatalogueEntry | None:
        return self._entries.get(model)

    @property
    def entries(self) -> tuple[CatalogueEntry, ...]:
        return tuple(self._entries.values())

    @property
    def aliases(self) -> Mapping[str, str]:
        """`vendor/model` -> model, for every enabled entry."""
        return self._aliases
