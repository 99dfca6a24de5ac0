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
    cap: int | None = None
    answers = 1
    for place in (body, body.get("generationConfig") or body.get("generation_config")):
        if not isinstance(place, dict):
            continue
        for name in place:  # a body names a dozen parameters at most: look each one up
            kind = _CAP_OR_ANSWERS.get(name)
            if kind is None:
                continue
            found = _count(place[name])
            if kind is _CAP:
                if found is not None:
                    cap = max(cap or 0, found)
            else:
                answers = max(answers, found or 1)
    return cap * answers if cap is not None else None


def answers(body: dict[str, Any]) -> int:
    """How many answers (images, choices) the body asks for: `n` and the like, at least 1."""
    return max((_count(body.get(name)) or 1 for name in _ANSWERS), default=1)


_SKIP_MODEL = frozenset({"model"})


def _text_tokens(key: str | None, value: str) -> int:
    if key in _MEDIA_KEYS and (len(value) >= _MEDIA_MIN_CHARS or value.startswith(("data:", "http"))):
        return MEDIA_ITEM_TOKENS
    return 1 + (len(value) if value.isascii() else len(value.encode("utf-8", "replace")))


def input_bound(body: Any, skip: Iterable[str] = ("model",)) -> int:
    """An upper bound of the prompt tokens in a parsed body (iterative: any depth is safe).
    Strings, numbers and nulls inside a container are counted as they are met; only
    containers go on the stack (most values of a request body are strings)."""
    skipped = _SKIP_MODEL if skip == ("model",) else frozenset(skip)
    total = 0
    stack: list[tuple[str | None, Any]] = [(None, [body])]
    push = stack.append
    while stack:
        key, container = stack.pop()
        if isinstance(container, dict):
            for k, value in container.items():
                if k in skipped:
                    continue
                if type(value) is str:
                    total += _text_tokens(k, value)
                elif isinstance(value, dict | list):
                    push((k, value))
                elif value is not None:
                    total += 1  # numbers, booleans
        else:
            for value in container:
                if type(value) is str:
                    total += _text_tokens(key, value)
                elif isinstance(value, dict | list):
                    push((key, value))
                elif value is not None:
                    total += 1
    return total


def tokens(body: dict[str, Any]) -> Ceiling:
    """A text request (chat, messages, responses, generateContent, completions, embeddings)."""
    return Ceiling(input_bound(body), output_cap(body))


def audio_seconds(upload_bytes: int) -> int:
    """An upper bound of an uploaded recording's length in seconds."""
    return max(1, math.ceil(upload_bytes / AUDIO_BYTES_PER_SECOND))
