"""The most a request can cost, read from its body alone: the size of its hold (billing.py).

No tokenizer runs here, whatever the body's size: byte-level BPE tokens are at least one
byte, so a prompt has at most as many tokens as its text has UTF-8 bytes (plus one per
string for message framing). Inlined media (a data URL, a base64 part, an image URL) count
as MEDIA_ITEM_TOKENS each instead of their bytes. The output is what the request caps it
at (`max_tokens`, `max_completion_tokens`, `max_output_tokens`,
`generationConfig.maxOutputTokens`) times the answers asked for (`n`, `best_of`,
`candidateCount`); None when it names no cap (the model's maximum applies, see billing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MEDIA_ITEM_TOKENS = 8_000  # an inlined image, audio clip or file: more than any vendor bills for one
IMAGE_OUTPUT_TOKENS = 8_000  # one generated image, for models priced by image tokens
AUDIO_BYTES_PER_SECOND = 1_000  # 8 kbit/s: compressed speech is no smaller, so seconds <= bytes / 1000
_MEDIA_KEYS = frozenset({"data", "url", "image_url", "file_data", "file_url", "fileUri", "file_uri",
                         "audio_url", "b64_json", "bytes"})  # fmt: skip
_OUTPUT_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens", "maxOutputTokens")
_ANSWERS = ("n", "best_of", "candidateCount", "candidate_count")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


# Each cap under its own name and its snake_case spelling (computed once, not per request).
_CAP_NAMES = tuple(dict.fromkeys(n for name in _OUTPUT_CAPS for n in (name, _snake(name))))
_CAP, _ANSWER = "cap", "answers"
_CAP_OR_ANSWERS = {**dict.fromkeys(_CAP_NAMES, _CAP), **dict.fromkeys(_ANSWERS, _ANSWER)}
_KIND_OF = _CAP_OR_ANSWERS.get
_CONFIGS = frozenset({"generationConfig", "generation_config"})  # Gemini's caps are one level down
_NAMED = frozenset(_CAP_OR_ANSWERS) | _CONFIGS
_MEDIA_MIN_CHARS = 256  # shorter strings under media keys are plain text (ids, short URLs are counted)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 4x (made per request)
class Ceiling:
    """A request's maximum usage: tokens in and out, or units (images, seconds, characters)."""

    prompt_tokens: int
    completion_tokens: int | None  # None: no cap named; the model's maximum output applies
    units: int = 0
    unit: str | None = None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def output_cap(body: dict[str, Any]) -> int | None:
    """The output token cap the body names, times the answers it asks for; None if it names none."""
    named = _NAMED.intersection(body)  # in C: most bodies name one or two of these
    if not named:
        return None
    cap, answers = _caps(body, named, None, 1)
    if not named.isdisjoint(_CONFIGS):
        config = body.get("generationConfig") or body.get("generation_config")
        if isinstance(config, dict):
            cap, answers = _caps(config, _NAMED.intersection(config), cap, answers)
    return cap * answers if cap is not None else None


def _caps(
    place: dict[str, Any], names: Iterable[str], cap: int | None, answers: int
) -> tuple[int | None, int]:
    for name in names:
        found = place[name]
        if type(found) is not int or found <= 0:  # not a count (booleans are not either)
            continue
        kind = _KIND_OF(name)
        if kind is _CAP:
            if cap is None or found > cap:
                cap = found
        elif kind is _ANSWER and found > answers:
            answers = found
    return cap, answers


def answers(body: dict[str, Any]) -> int:
    """How many answers (images, choices) the body asks for: `n` and the like, at least 1."""
    return max((_count(body.get(name)) or 1 for name in _ANSWERS), default=1)


_MODEL_ONLY = ("model",)
_CONTAINERS = (dict, list)
_SKIP_MODEL = frozenset(_MODEL_ONLY)


def _text_tokens(key: str | None, value: str) -> int:
    if key in _MEDIA_KEYS and (len(value) >= _MEDIA_MIN_CHARS or value.startswith(("data:", "http"))):
        return MEDIA_ITEM_TOKENS
    return 1 + (len(value) if value.isascii() else _utf8_len(value))


def input_bound(body: Any, skip: Iterable[str] = _MODEL_ONLY) -> int:
    """An upper bound of the prompt tokens in a parsed body (iterative: any depth is safe).
    Strings, numbers and nulls inside a container are counted as they are met; only
    containers wait on the stack (most values of a request body are strings). This runs
    once per held request, so a plain string is counted inline (`str.isascii` is O(1))."""
    skipped = _SKIP_MODEL if skip is _MODEL_ONLY else frozenset(skip)
    total = 0
    stack: list[tuple[str | None, Any]] = []
    push = stack.append
    key: str | None = None
    container: Any = body if isinstance(body, dict) else [body]
    while True:
        if isinstance(container, dict):
            for k, value in container.items():
                if k in skipped:
                    continue
                if type(value) is str:
                    if k in _MEDIA_KEYS:
                        total += _text_tokens(k, value)
                    else:
                        total += 1 + (len(value) if value.isascii() else _utf8_len(value))
                elif isinstance(value, _CONTAINERS):
                    push((k, value))
                elif value is not None:
                    total += 1  # numbers, booleans
        else:
            plain = key not in _MEDIA_KEYS
            for value in container:
                if type(value) is str:
                    if plain:
                        total += 1 + (len(value) if value.isascii() else _utf8_len(value))
                    else:
                        total += _text_tokens(key, value)
                elif isinstance(value, _CONTAINERS):
                    push((key, value))
                elif value is not None:
                    total += 1
        if not stack:
            return total
        key, container = stack.pop()


def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8", "replace"))


# A body's length in bytes bounds its text tokens as the walk does (each string takes at
# least its UTF-8 bytes plus two quotes there, each number or literal at least a byte),
# unless it holds media (a string under a media key counts MEDIA_ITEM_TOKENS, not its bytes)
# or a \u escape (which could spell a media key). One scan in C instead of a walk in
# Python: for an agent's 80 kB body about 0.1 ms against 0.3 ms.
# A quoted media key. The pattern starts with a fixed byte, so the scan hops between quotes.
_MEDIA_KEY = re.compile(rb'"(?:' + b"|".join(re.escape(k.encode()) for k in sorted(_MEDIA_KEYS)) + rb')"')


def needs_walk(raw: bytes) -> bool:
    """Whether a body's bytes may hold media or a \\u escape (`\\` alone is a memchr)."""
    return _MEDIA_KEY.search(raw) is not None or (b"\\" in raw and b"\\u" in raw)


def prompt_bound(body: Any, raw: bytes | None = None) -> int:
    """`input_bound(body)` or, when `raw` (the bytes `body` was parsed from) holds no media
    and no escapes, its length: never less than the walk would find."""
    if raw is not None and not needs_walk(raw):
        return len(raw)
    return input_bound(body)


def tokens(body: dict[str, Any], raw: bytes | None = None) -> Ceiling:
    """A text request (chat, messages, responses, generateContent, completions, embeddings);
    `raw`: the bytes `body` is the unchanged parse of, when the caller has them."""
    return Ceiling(prompt_bound(body, raw), output_cap(body))


def audio_seconds(upload_bytes: int) -> int:
    """An upper bound of an uploaded recording's length in seconds."""
    return max(1, math.ceil(upload_bytes / AUDIO_BYTES_PER_SECOND))
