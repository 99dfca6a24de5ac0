"""The caller's model name in an answer: one JSON string field rewritten on the bytes.

A channel's `model_map` sends an upstream name up (`fo-401` -> `ok`); the answer must
name the model the caller asked for. `Rename.apply` finds the field (`model`, Gemini's
`modelVersion`) where the format puts it — top level, or inside the `response` /
`message` object of a stream's first events — and swaps its string value for the
caller's, leaving every other byte as it was (no parse, no re-encode).

The field is found without walking the whole event when the bytes allow: with no
backslash and a single `{` (and no `}`, `[`, `]`) before a top-level key, that key
is the object's own; likewise with a single closing `}` after it (a key near the end,
like Gemini's). Otherwise a tokenizer walks strings and brackets up to the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from hubgate.formats.registry import WireFormat

# A key (a string then a colon), a string, or a bracket: enough to know where a key sits.
_STR = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
_TOKEN = re.compile(rb"(" + _STR + rb")\s*:|" + _STR + rb"|[{}\[\]]", re.DOTALL)
_STRING = re.compile(_STR, re.DOTALL)
_SPACE = b" \t\r\n"
_BRACKETS = (b"}", b"[", b"]")


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
        at = data.find(self.key)
        if at < 0:
            return data
        start = data.find(b"{")
        if start < 0 or start > at:
            return data
        if self.parent is None and _top_level(data, start, at):
            swapped = self._swap(data, at + len(self.key))
            if swapped is not None:
                return swapped
        after = self._locate(data, start)
        return data if after < 0 else (self._swap(data, after) or data)

    def _locate(self, data: bytes, start: int) -> int:
        """Where the field's key ends (-1: absent), found by walking the tokens."""
        wanted = 1 if self.parent is None else 2
        stack: list[bytes | None] = []
        pending: bytes | None = None
        for token in _TOKEN.finditer(data, start):
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

    def _swap(self, data: bytes, after_key: int) -> bytes | None:
        """Replace the string value following the key that ends at `after_key` (None: no
        colon there, so that was a string value, not the key)."""
        pos = after_key
        size = len(data)
        while pos < size and data[pos] in _SPACE:
            pos += 1
        if pos >= size or data[pos] != 0x3A:  # ':'
            return None
        pos += 1
        while pos < size and data[pos] in _SPACE:
            pos += 1
        found = _STRING.match(data, pos)
        if found is None:  # null or not a string: nothing of the upstream's to hide
            return data
        if found.group() == self.value:
            return data
        return data[:pos] + self.value + data[found.end() :]


def _top_level(data: bytes, start: int, at: int) -> bool:
    """Whether the key at `at` is plainly a key of the outermost object (cheap byte checks)."""
    head = data[start:at]
    if b"\\" not in head and head.count(b"{") == 1 and not any(b in head for b in _BRACKETS):
        return head.count(b'"') % 2 == 0  # every quote before it a delimiter: it opens a string
    tail = data[at:]
    if b"\\" in tail or b"{" in tail or b"[" in tail or b"]" in tail or tail.count(b"}") != 1:
        return False
    return tail.count(b'"') % 2 == 0  # quotes after it balanced: it opens a string


_MODEL = b'"model"'


def answer_rename(fmt: WireFormat, public: str) -> Rename:
    """The rename for a JSON answer in `fmt` (the top-level model field)."""
    key = b'"modelVersion"' if fmt is WireFormat.GEMINI else _MODEL
    return Rename(key, None, orjson.dumps(public))


def stream_rename(fmt: WireFormat, public: str) -> Rename:
    """The rename for each event of a stream in `fmt`: Responses and Anthropic name the
    model inside their first events' `response` / `message` object, the others in every chunk."""
    value = orjson.dumps(public)
    if fmt is WireFormat.OPENAI_RESPONSES:
        return Rename(_MODEL, b'"response"', value)
    if fmt is WireFormat.ANTHROPIC:
        return Rename(_MODEL, b'"message"', value)
    return answer_rename(fmt, public)
