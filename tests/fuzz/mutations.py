"""Hypothesis strategies that turn a valid request body into a hostile one.

A mutation picks places in a valid body and puts something unexpected there: a value of
another JSON type, a huge or negative number, a string with NUL bytes or a lone surrogate
(escaped as ``\\ud800``, as a client's JSON encoder writes it), deep nesting, an unknown key,
a missing field, another part of the same body (a plausible shape in the wrong place).
Some bodies are broken as a whole instead: not an object, not JSON, not UTF-8.

Every choice is read from one drawn byte string (hypothesis shrinks it towards zeros, which
here means fewer and milder mutations): thousands of bodies per route then cost hypothesis
one draw each, and the whole fuzz run stays fast enough for every `make test`.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import orjson
from hypothesis import strategies as st

HUGE = 10**30
NUMBERS = (0, -1, 1, 2, 7, -(2**31), 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, HUGE, -HUGE,
           10**400, 0.5, -0.0, 1e308, -1e308, 1e-320, 3.7, -2.5)  # fmt: skip
STRINGS = ("", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\U0001f600", "é" * 3, "-1", "1e30", "true",
           "null", "{}", "[]", "user", "assistant", "system", "developer", "tool", "model", "function",
           "text", "image_url", "input_text", "auto", "none", "required", "object", "integer", "STRING",
           "data:image/png;base64,!!", "data:,", "http://127.0.0.1:1/x.png", "x" * 5000)  # fmt: skip
KEYS = ("", "\x00", "\ud800", "type", "role", "content", "text", "model", "parts", "zz_unknown", "x" * 300)

_DEEP_MARK = "\x00\x01deep:"
_DEEP_RE = re.compile(rb'"\\u0000\\u0001deep:(list|dict|schema|anyof):(\d+)"')


def _deep(kind: str, depth: int) -> str:
    """A marker that `encode` replaces with `depth` nested arrays or objects (built as bytes:
    neither this module nor the JSON encoder should recurse that deep)."""
    return f"{_DEEP_MARK}{kind}:{depth}"


_DEEP_KINDS = {  # (opening, closing) of one level
    b"list": (b"[", b"]"),
    b"dict": (b'{"a":', b"}"),
    b"schema": (b'{"type": "object", "properties": {"x":', b"}}"),  # JSON schemas, as tools carry them
    b"anyof": (b'{"anyOf": [{"type": "null"},', b"]}"),
}


def _deep_bytes(match: re.Match[bytes]) -> bytes:
    opening, closing = _DEEP_KINDS[match.group(1)]
    depth = int(match.group(2))
    return opening * depth + b'{"type": "string"}' + closing * depth


# Values put where a valid one was: every JSON type, edge numbers and strings, plausible
# containers, deep nesting (near the gateway's 200 levels, past orjson's 255 for writing, near its
# 1024 for reading; plain, and as JSON schemas).
WEIRD: tuple[Any, ...] = (
    None, True, False, *NUMBERS, *STRINGS,
    [], {}, [None], [""], [0], [[]], [{}], {"": None}, {"type": None}, {"type": "unknown_kind"},
    {"type": "text"}, {"type": "text", "text": ["a"]}, {"text": {"a": 1}}, [1, "a", None, {}, []],
    {"role": ["user"]}, {"role": {"a": 1}}, [{"type": 1}], {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    *(_deep(kind, depth) for depth in (40, 198, 300, 1000) for kind in ("list", "dict")),
    *(_deep(kind, depth) for depth in (20, 99, 150, 500) for kind in ("schema", "anyof")),
)  # fmt: skip

_BROKEN = (b"", b" ", b"null", b"[]", b"[{}]", b'"text"', b"42", b"true", b"{", b'{"model": ', b"{}}",
           b'{"a": NaN}', b'{"a": Infinity}', b"\xef\xbb\xbf{}", b'{"a": "\xff\xfe"}', b'{"a": "\\ud800"}',
           b'{"a": "\\u0000"}', b"\x00", b"{'a': 1}", b'{"a": 1e999}', b"[" * 2000 + b"]" * 2000)  # fmt: skip


class Choices:
    """Choices read from hypothesis' bytes, two at a time; zeros once they run out."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def below(self, n: int) -> int:
        raw = self._data[self._at : self._at + 2]
        self._at += 2
        return int.from_bytes(raw.ljust(2, b"\0"), "big") % n if n > 1 else 0

    def pick(self, options: tuple[Any, ...] | list[Any]) -> Any:
        return options[self.below(len(options))]

    def value(self) -> Any:
        kind = self.below(8)
        if kind == 6:  # an arbitrary integer, up to 64 bits, either sign
            return (self.below(65536) << 48 | self.below(65536) << 16 | self.below(65536)) - (1 << 63)
        if kind == 7:  # a short arbitrary text, surrogates and controls included
            return "".join(chr(self.below(0x110000) if self.below(2) else self.below(0x80)) for _ in range(3))
        return copy.deepcopy(self.pick(WEIRD))


def _walk(body: Any, choices: Choices) -> tuple[Any, Any]:
    """A random place in `body` below its root: (its container, its key or index); (None, None)
    when the root has nothing in it (the body as a whole is broken by `_BROKEN`)."""
    parent: Any = None
    key: Any = None
    node = body
    while isinstance(node, dict | list) and node and (parent is None or choices.below(4)):  # 1 in 4 stop
        k = choices.pick(list(node)) if isinstance(node, dict) else choices.below(len(node))
        parent, key, node = node, k, node[k]
    return parent, key


_STRS = tuple(s for s in STRINGS if s)
_NUMS = tuple(n for n in NUMBERS if abs(n) < 10**300)


def _same_kind(target: Any, choices: Choices) -> Any:
    if isinstance(target, str):
        return choices.pick(_STRS) if choices.below(2) else target + choices.pick(_STRS)
    if isinstance(target, bool):
        return not target
    if isinstance(target, int | float):
        return choices.pick(_NUMS)
    if isinstance(target, list):
        return choices.pick(([], target * 3, target[::-1], [*target, choices.value()]))
    if isinstance(target, dict):
        return {k: v for k, v in target.items() if choices.below(3)}  # some keys gone
    return choices.value()


def _mutate_once(body: Any, choices: Choices) -> Any:
    parent, key = _walk(body, choices)
    target = body if parent is None else parent[key]
    op = choices.below(10)
    if op >= 8:  # a value of the same type that is odd: checks on types pass, deeper code sees it
        new = _same_kind(target, choices)
    elif op == 0 and parent is not None:  # drop it
        del parent[key]
        return body
    elif op == 1 and isinstance(target, dict):  # an unknown (or oddly named) key
        target[choices.pick(KEYS)] = choices.value()
        return body
    elif op == 2:  # the right value one level too deep (or an array of it)
        new: Any = choices.pick(([target], {"value": target}, [target, target]))
    elif op == 3:  # another part of the same body: a plausible shape in the wrong place
        donor_parent, donor_key = _walk(body, choices)
        new = copy.deepcopy(body if donor_parent is None else donor_parent[donor_key])
    else:
        new = choices.value()
    if parent is None:
        return new
    parent[key] = new
    return body


def encode(body: Any) -> bytes:
    """JSON as a client writes it: non-ASCII escaped, so lone surrogates travel as ``\\ud800``."""
    return _DEEP_RE.sub(_deep_bytes, json.dumps(body, ensure_ascii=True, allow_nan=False).encode())


def hostile(valid: bytes, choices: Choices) -> bytes:
    """Raw bytes for one request from one valid body (JSON): usually mutated, sometimes garbage."""
    kind = choices.below(20)
    if kind == 0:
        return choices.pick(_BROKEN)  # type: ignore[no-any-return]
    if kind == 1:  # a valid body cut short, or with invalid UTF-8 in it
        cut = 1 + choices.below(len(valid) - 1)
        return valid[:cut] if choices.below(2) else valid[:cut] + b"\xc3\x28" + valid[cut:]
    if kind == 2:
        return valid  # the valid body itself still works
    body = orjson.loads(valid)
    for _ in range(choices.pick((1, 1, 1, 2, 2, 3))):
        body = _mutate_once(body, choices)
    if kind == 3:  # raw UTF-8 rather than escapes: a lone surrogate is then invalid UTF-8
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return _DEEP_RE.sub(_deep_bytes, raw)
    return encode(body)


def hostile_requests(
    paths: tuple[str, ...], valid_bodies: tuple[Any, ...], count: int
) -> st.SearchStrategy[list[tuple[str, bytes]]]:
    """`count` requests (path, body): hostile bodies made from `valid_bodies`."""
    valid = [encode(b) for b in valid_bodies]

    def build(seeds: list[bytes]) -> list[tuple[str, bytes]]:
        out = []
        for seed in seeds:
            choices = Choices(seed)
            path = choices.pick(paths)
            out.append((path, hostile(choices.pick(valid), choices)))
        return out

    return st.lists(st.binary(min_size=64, max_size=64), min_size=count, max_size=count).map(build)
