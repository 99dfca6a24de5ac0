"""The caller's model name in an answer: one JSON string field rewritten on the bytes.

A channel's `model_map` sends an upstream name up (`fo-401` -> `ok`); the answer must
name the model the caller asked for. `Rename.apply` finds the field (`model`, Gemini's
`modelVersion`) where the format puts it — top level, or inside the `response` /
`message` object of a stream's first events — and swaps its string value for the
caller's, leaving every other byte as it was (no parse, no re-encode).

In valid JSON an unescaped `"model"` is always a whole string token, a key when a
colon follows. A top-level key is found with one regex over the bytes before it (one
`{`, then only plain strings and scalars: the model right after the id, as OpenAI
sends it) or after it (plain to the one closing `}`: the model last, as Gemini sends
it); otherwise a tokenizer walks strings and brackets up to the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from hubgate.formats.registry import WireFormat

# A key (a string then a colon), a string, or a bracket: enough to know where a key sits.
_STR = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
_TOKEN = re.compile(rb"(" + _STR + rb")\s*:|" + _STR + rb"|[{}\[\]]", re.DOTALL)
_VALUE = re.compile(rb"\s*:\s*(" + _STR + rb")", re.DOTALL)  # after a key: its string value
# Up to a top-level key (SSE field names, `{`, then no bracket outside an escape-free string) ...
_PLAIN = rb'[^{}\[\]"\\]*(?:"[^"\\]*"[^{}\[\]"\\]*)*'  # no bracket outside an escape-free string
_PLAIN_HEAD = re.compile(rb'[^{}\[\]"\\]*\{' + _PLAIN)
# ... or from it to the end (no bracket outside an escape-free string, then the one closing `}`).
_PLAIN_TAIL = re.compile(_PLAIN + rb"\}\s*")


@dataclass(frozen=True, slots=True)
class Rename:
    """Set the string field `key` inside the object at `parent` (None: the top level) to `value`."""

    key: bytes  # the field's JSON key, quotes included: b'"model"'
    parent: bytes | None  # the enclosing object's key (b'"response"'), or None for the top level
    value: bytes  # the caller's name as a JSON string, quotes included

    @property
    def field(self) -> str:
        """The field's name, as a parsed object's key."""
        return self.key[1:-1].decode()

    def apply(self, data: bytes) -> bytes:
        """`data` (a JSON object, or one SSE event holding one) with the field renamed;
        `data` itself when it has no such field (or not as a string)."""
        span = self.span(data)
        return data if span is None else data[: span[0]] + self.value + data[span[1] :]

    def span(self, data: bytes) -> tuple[int, int] | None:
        """Where the field's string value is in `data` (quotes included); None: not there."""
        at = data.find(self.key)
        if at < 0:
            return None
        if self.parent is None and (_PLAIN_HEAD.fullmatch(data, 0, at) or _PLAIN_TAIL.fullmatch(data, at)):
            found = _VALUE.match(data, at + len(self.key))
            if found is not None:
                return found.span(1)
        after = self._locate(data)  # nested, or the plain checks could not tell
        found = _VALUE.match(data, after) if after >= 0 else None
        return None if found is None else found.span(1)

    def _locate(self, data: bytes) -> int:
        """Where the field's key ends (-1: absent), found by walking the tokens."""
        wanted = 1 if self.parent is None else 2
        stack: list[bytes | None] = []
        pending: bytes | None = None
        for token in _TOKEN.finditer(data):
            key = token.group(1)
            if key is not None:
                if key == self.key and len(stack) == wanted and stack[-1] == self.parent:
                    return token.start(1) + len(key)
                pending = key
                continue
            first = data[token.start()]
            if first in b"{[":
                stack.append(pending)
            elif first in b"}]":
                if not stack:
                    return -1
                stack.pop()
            pending = None
        return -1


_MODEL = b'"model"'


def answer_rename(fmt: WireFormat, public: str) -> Rename:
    """The rename for a JSON answer in `fmt` (the top-level model field)."""
    key = b'"modelVersion"' if fmt is WireFormat.GEMINI else _MODEL
    return Rename(key, None, orjson.dumps(public))


def stream_rename(fmt: WireFormat, public: str) -> StreamRename:
    """The rename for each event of one stream in `fmt`: Responses and Anthropic name the
    model inside their first events' `response` / `message` object, the others in every chunk."""
    value = orjson.dumps(public)
    if fmt is WireFormat.OPENAI_RESPONSES:
        return StreamRename(Rename(_MODEL, b'"response"', value))
    if fmt is WireFormat.ANTHROPIC:
        return StreamRename(Rename(_MODEL, b'"message"', value))
    return StreamRename(answer_rename(fmt, public))


class StreamRename:
    """One stream's rename. OpenAI repeats the same id, created and model at the head of
    every chunk: an event that starts with the bytes the last renamed one had up to the end
    of its model value is renamed with one comparison (the same bytes before it: the same
    place in the same structure)."""

    __slots__ = ("_cut", "_rename", "_renamed", "_seen")

    def __init__(self, rename: Rename) -> None:
        self._rename = rename
        self._seen = b"\0"  # the last renamed event up to the end of its value (never an event's start)
        self._renamed = b""  # the same with the caller's name in it
        self._cut = 0

    @property
    def rename(self) -> Rename:
        return self._rename

    def apply(self, data: bytes) -> bytes:
        """The event with the field renamed (itself when it has none)."""
        if data.startswith(self._seen):
            return self._renamed + data[self._cut :]
        span = self._rename.span(data)
        if span is None:
            return data
        start, end = span
        self._seen, self._renamed, self._cut = data[:end], data[:start] + self._rename.value, end
        return self._renamed + data[end:]
