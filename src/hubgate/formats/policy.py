"""The translation policy's shared pieces: naming drops in the `x-hubgate-dropped`
header, the hub fields an encoder cannot express, and reversible flat names for
namespaced tools.

What has an equivalent in the target is mapped; what has none is dropped, never
refused, and named (see `hub.Drop`). Same-format traffic passes through and drops
nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from hubgate.formats import hub

HEADER = "x-hubgate-dropped"
MAX_HEADER_CHARS = 1024  # the header stays well under common proxy limits
MAX_ENTRY_CHARS = 96
MAX_TOOL_NAME = 64  # OpenAI, Anthropic and Gemini all cap function names at 64 characters

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]:/]")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


def label(drop: hub.Drop) -> str:
    """One header entry, `path:what` (or `path`), restricted to safe characters: the
    type name comes from the caller and must not smuggle anything into a header."""
    text = f"{drop.path}:{drop.what}" if drop.what else drop.path
    return _UNSAFE.sub("_", text)[:MAX_ENTRY_CHARS]


def header_value(drops: Iterable[hub.Drop]) -> str:
    """The comma-separated names of what was dropped, each once, in order, cut to
    MAX_HEADER_CHARS with a count of what did not fit (`+3 more`)."""
    names = list(dict.fromkeys(label(d) for d in drops))
    out: list[str] = []
    used = 0
    for i, name in enumerate(names):
        rest = len(names) - i
        tail = len(f", +{rest} more")
        if used + len(name) + 2 + (tail if rest > 1 else 0) > MAX_HEADER_CHARS:
            out.append(f"+{rest} more")
            break
        out.append(name)
        used += len(name) + 2
    return ", ".join(out)


def unsupported(req: hub.Request, names: Iterable[str], drops: list[hub.Drop]) -> None:
    """Name each of the hub fields `names` that is set but that the target cannot carry."""
    for name in names:
        value = getattr(req, name)
        if value is not None and value != ():
            drops.append(hub.Drop(name))


def flat_name(namespace: str, name: str, taken: set[str]) -> str:
    """A function name for `name` inside `namespace` that every upstream accepts:
    `namespace__name` in [A-Za-z0-9_-], at most 64 characters (a hash keeps long or
    colliding names distinct). The codec maps it back by looking it up in the
    request's tools, never by parsing it."""
    sep = "" if namespace.endswith("_") else "__"
    flat = _NAME_UNSAFE.sub("_", f"{namespace}{sep}{name}")
    if len(flat) > MAX_TOOL_NAME or flat in taken:
        digest = hashlib.sha256(f"{namespace}\0{name}".encode()).hexdigest()[:8]
        flat = f"{flat[: MAX_TOOL_NAME - 9]}_{digest}"
    taken.add(flat)
    return flat


def tool_named(req: hub.Request | None, name: str) -> hub.Tool | None:
    """The request's tool the upstream knows as `name` (a flattened or custom tool)."""
    if req is None:
        return None
    for tool in req.tools:
        if tool.name == name and (tool.namespace is not None or tool.custom):
            return tool
    return None
